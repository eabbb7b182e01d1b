"""Recipe `data` section -> ClipSets for training and validation (the one place kinds are named)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from audiovae.data.clipset import ClipSet
from audiovae.errors import DataError

log = logging.getLogger(__name__)


def _min_samples(data) -> int:
    """Shortest acceptable file: data.min_seconds, by default half the clip length."""
    seconds = data.min_seconds if data.min_seconds is not None else data.clip_seconds / 2
    return max(1, int(round(seconds * data.sample_rate)))


def _synthetic(data, folder: str | None) -> ClipSet:
    from audiovae.data.synthetic import synthetic_clipset

    return synthetic_clipset(synth_config(data), data.clip_samples)


def _nsynth(data, folder: str | None) -> ClipSet:
    from audiovae.data.nsynth import NSynthFilters, nsynth_clipset

    filters = NSynthFilters(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.filters})
    return nsynth_clipset(
        folder,
        sample_rate=data.sample_rate,
        clip_samples=data.clip_samples,
        crop=data.crop,
        min_samples=_min_samples(data),
        filters=filters,
    )


def _folder(data, folder: str | None) -> ClipSet:
    from audiovae.data.folder import audio_folder_clipset

    return audio_folder_clipset(
        folder,
        sample_rate=data.sample_rate,
        clip_samples=data.clip_samples,
        crop=data.crop,
        min_samples=_min_samples(data),
        labels_csv=data.labels_csv,
    )


DATA_KINDS: dict[str, Callable] = {"synthetic": _synthetic, "nsynth": _nsynth, "folder": _folder}


def synth_config(data):
    """The SynthConfig described by a recipe's data section."""
    from audiovae.audio.synth import SynthConfig

    s = data.synthetic
    return SynthConfig(
        pitches=tuple(s.pitches),
        families=tuple(s.families),
        instruments_per_family=s.instruments_per_family,
        velocities=tuple(s.velocities),
        vibrato_depths=tuple(s.vibrato_depths),
        sample_rate=data.sample_rate,
        seconds=data.clip_seconds,
        seed=s.seed,
    )


def folder_kind(folder: str) -> str:
    """`nsynth` for a folder holding examples.json, else `folder` (any audio files)."""
    path = Path(folder)
    if not path.is_dir():
        raise DataError(f"data folder not found: {folder}")
    return "nsynth" if (path / "examples.json").is_file() else "folder"


def training_clipsets(data) -> tuple[ClipSet, ClipSet | None]:
    """(train, valid) ClipSets for a validated recipe data section; valid is None when the
    recipe gives no `data.valid` (the trainer then holds out `data.valid_fraction` of train).
    A synthetic recipe pointed at a folder (`data.train`) reads it as NSynth or plain audio."""
    kind = data.kind
    if kind == "synthetic" and data.train:  # `--set data.train=DIR` on the default recipe
        kind = folder_kind(data.train)
        log.info("data.train is set: reading %s as kind %r", data.train, kind)
    build = DATA_KINDS[kind]
    train = build(data, data.train)
    valid = build(data, data.valid) if data.valid else None
    if data.valid and Path(data.valid).resolve() == Path(data.train or "").resolve():
        raise DataError(f"data.valid is the same folder as data.train: {data.valid}")
    return train, valid

"""Where clips come from, the one place kinds are named: a recipe's `data` section -> ClipSets for
training and validation (`DATA_KINDS`), and a DATA argument of a command (NSynth folder, audio
folder, list file, one audio file) -> a DataSource (`DATA_ARGUMENTS`, `open_data`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
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


# --------------------------------------------------------------------------- DATA arguments


@dataclass
class DataSource:
    """A data argument resolved: its kind, the resolved path, a ClipSet and one file per clip."""

    kind: str  # a key of DATA_ARGUMENTS: "nsynth", "folder", "file" or "list"
    path: Path
    clips: ClipSet
    files: list[str]


def _is_nsynth(path: Path) -> bool:
    return path.is_dir() and (path / "examples.json").is_file()


def _is_audio_file(path: Path) -> bool:
    from audiovae.data.folder import AUDIO_EXTENSIONS

    return path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS


def _open_nsynth(path: Path, args: dict) -> DataSource:
    from audiovae.data.nsynth import nsynth_clipset

    clips = nsynth_clipset(path, **args, min_samples=1)
    audio = os.path.join(str(path), "audio", "")
    return DataSource("nsynth", path.resolve(), clips, [f"{audio}{i}.wav" for i in clips.ids])


def _open_folder(path: Path, args: dict) -> DataSource:
    from audiovae.data.folder import audio_folder_clipset

    clips = audio_folder_clipset(path, **args, min_samples=1)
    return DataSource("folder", path.resolve(), clips, [str(path / i) for i in clips.ids])


def _open_file(path: Path, args: dict) -> DataSource:
    from audiovae.data.files import files_clipset

    resolved = path.resolve()
    origin = {"kind": "audio_file", "path": str(resolved)}
    clips = files_clipset(resolved.stem, [path.name], [str(path)], origin, **args)
    return DataSource("file", resolved, clips, [str(path)])


def _open_list(path: Path, args: dict) -> DataSource:
    from audiovae.data.files import path_list_clipset

    clips, files = path_list_clipset(path, **args, min_samples=1)
    return DataSource("list", path.resolve(), clips, files)


DATA_ARGUMENTS: dict[str, tuple[Callable[[Path], bool], Callable[[Path, dict], DataSource]]] = {
    "nsynth": (_is_nsynth, _open_nsynth),
    "folder": (Path.is_dir, _open_folder),
    "file": (_is_audio_file, _open_file),
    "list": (Path.is_file, _open_list),
}
"""Kinds of DATA argument, each (does this path look like it?, open it), tried in this order."""


def open_data(data: str | Path, *, sample_rate: int, clip_samples: int) -> DataSource:
    """An NSynth-format folder (has examples.json), a folder of audio, one audio file, or a text
    file of paths (the first kind of DATA_ARGUMENTS the path matches).

    Clips are cropped from the start or zero-padded to `clip_samples`; any non-empty file counts.
    """
    path = Path(data).expanduser()
    args = {"sample_rate": sample_rate, "clip_samples": clip_samples, "crop": "start"}
    for matches, open_kind in DATA_ARGUMENTS.values():
        if matches(path):
            return open_kind(path, args)
    raise DataError(
        f"data not found: {path} (expected an NSynth-format folder with examples.json, a folder "
        "of audio files, or a text file with one audio path per line)"
    )

"""Synthetic notes as a ClipSet: rendered in memory, labelled with every generating factor."""

from __future__ import annotations

from pathlib import Path

import torch

from audiovae.audio.io import fit_length
from audiovae.audio.synth import SynthConfig, config_fingerprint, note_table, render_note
from audiovae.data.clipset import ClipSet


def synthetic_clipset(config: SynthConfig, clip_samples: int) -> ClipSet:
    """The notes of `config` as a ClipSet, with the labels an NSynth loader would read from them.

    ids are note_str; labels are every other record field (factors, NSynth fields, timbre); each
    clip is the note at config.sample_rate, zero-padded or cropped from its onset to clip_samples.
    """
    if not isinstance(clip_samples, int) or clip_samples <= 0:
        raise ValueError(f"clip_samples must be a positive int, got {clip_samples!r}")
    records = note_table(config)
    fields = [key for key in records[0] if key != "note_str"]

    def load(index: int) -> torch.Tensor:
        audio = torch.from_numpy(render_note(records[index], config))
        return fit_length(audio, clip_samples, mode="start").contiguous()

    return ClipSet(
        name="synthetic",
        ids=[record["note_str"] for record in records],
        labels={key: [record[key] for record in records] for key in fields},
        load=load,
        fingerprint=config_fingerprint(config),
        info={"sample_rate": config.sample_rate, "clip_samples": clip_samples},
    )


def synthetic_notes_folder(data, folder: str | Path) -> Path | None:
    """The notes a synthetic recipe's data section generates, written once as an NSynth-format
    folder (examples.json + audio/; kept when already there): the held-out data `sweep` evaluates
    on by default. None when the recipe reads real data (a kind other than synthetic, or
    `data.train` set)."""
    from audiovae.audio.synth import write_nsynth_folder
    from audiovae.data.sources import synth_config

    if data.kind != "synthetic" or data.train:
        return None
    folder = Path(folder)
    if not (folder / "examples.json").is_file():
        write_nsynth_folder(folder, synth_config(data), progress=False)
    return folder

"""Synthetic ClipSet: ids, labels as an NSynth loader would give them, clips, fingerprint."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from audiovae.audio.io import fit_length
from audiovae.audio.synth import (
    GENERATOR_VERSION,
    SynthConfig,
    note_table,
    render_note,
    write_nsynth_folder,
)
from audiovae.data.synthetic import synthetic_clipset

CONFIG = SynthConfig(
    pitches=(57, 60),
    families=("guitar", "organ"),
    instruments_per_family=2,
    velocities=(50, 100),
    vibrato_depths=(0.0, 0.4),
    seconds=0.25,
)


def test_ids_and_labels_are_the_records():
    clips = synthetic_clipset(CONFIG, clip_samples=2000)
    records = note_table(CONFIG)
    assert clips.name == "synthetic" and len(clips) == len(records) == 32
    assert clips.ids == [r["note_str"] for r in records]
    assert set(clips.labels) == set(records[0]) - {"note_str"}
    for i, record in enumerate(records):
        for field, values in clips.labels.items():
            assert values[i] == record[field]
    for factor in ("pitch", "instrument", "instrument_family", "velocity", "vibrato"):
        assert factor in clips.labels


def test_labels_match_the_written_folder(tmp_path):
    """Same labels as reading the folder's examples.json: every record field but note_str."""
    folder = write_nsynth_folder(tmp_path / "synth", CONFIG, progress=False)
    examples = json.loads((folder / "examples.json").read_text())
    clips = synthetic_clipset(CONFIG, clip_samples=2000)
    for i, note in enumerate(clips.ids):
        written = {k: v for k, v in examples[note].items() if k != "note_str"}
        assert written == {field: values[i] for field, values in clips.labels.items()}


@pytest.mark.parametrize("clip_samples", [1000, 4000, 6000])  # crop, exact, pad
def test_load_is_the_rendered_note_fitted_from_the_onset(clip_samples):
    clips = synthetic_clipset(CONFIG, clip_samples=clip_samples)
    records = note_table(CONFIG)
    for i in (0, 5, 31):
        expected = fit_length(torch.from_numpy(render_note(records[i], CONFIG)), clip_samples)
        x = clips.load(i)
        assert x.dtype == torch.float32 and x.shape == (clip_samples,)
        assert torch.equal(x, expected)


def test_fingerprint_describes_generator_and_config():
    clips = synthetic_clipset(CONFIG, clip_samples=2000)
    fp = clips.fingerprint
    assert fp["generator"] == "audiovae.synth" and fp["version"] == GENERATOR_VERSION
    assert fp["pitches"] == [57, 60] and fp["families"] == ["guitar", "organ"]
    assert fp["vibrato_depths"] == [0.0, 0.4] and fp["seed"] == 0
    assert set(fp) == {"generator", "version"} | {f.name for f in dataclasses.fields(CONFIG)}
    assert json.loads(json.dumps(fp)) == fp
    other = synthetic_clipset(dataclasses.replace(CONFIG, seed=1), clip_samples=2000)
    assert other.fingerprint != fp
    assert np.isfinite(other.load(0).numpy()).all()


def test_bad_clip_length_is_refused():
    with pytest.raises(ValueError, match="clip_samples"):
        synthetic_clipset(CONFIG, clip_samples=0)

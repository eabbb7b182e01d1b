"""Opening a DATA argument (data.sources.open_data): each kind of the registry, by hand-made
folders and files, and the synthetic notes a sweep evaluates on by default."""

from __future__ import annotations

import numpy as np
import pytest

from audiovae.audio.io import write_wav
from audiovae.audio.synth import SynthConfig, write_nsynth_folder
from audiovae.data.sources import DATA_ARGUMENTS, open_data
from audiovae.data.synthetic import synthetic_notes_folder
from audiovae.errors import DataError
from audiovae.recipe import recipe_from_dict

ARGS = {"sample_rate": 16000, "clip_samples": 4000}


def _tone(path, freq):
    t = np.arange(3000) / 16000
    return write_wav(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)


def test_each_kind_of_data_argument_opens_as_that_kind(tmp_path):
    cfg = SynthConfig(pitches=(50, 52), families=("organ",), instruments_per_family=1,
                      velocities=(100,), vibrato_depths=(0.0,), seconds=0.25)  # fmt: skip
    nsynth = write_nsynth_folder(tmp_path / "ns", cfg, progress=False)
    folder = tmp_path / "folder"
    _tone(folder / "b.wav", 300)
    _tone(folder / "a.wav", 400)
    listing = tmp_path / "list.txt"
    listing.write_text("folder/b.wav\n# a comment\nfolder/a.wav\n")
    expected = {
        nsynth: ("nsynth", 2),
        folder: ("folder", 2),
        folder / "a.wav": ("file", 1),
        listing: ("list", 2),
    }
    for path, (kind, n) in expected.items():
        src = open_data(path, **ARGS)
        assert (src.kind, len(src.clips), len(src.files)) == (kind, n, n), path
        assert src.clips.load(0).shape == (4000,)
    assert open_data(listing, **ARGS).clips.ids == ["folder/b.wav", "folder/a.wav"]
    assert list(DATA_ARGUMENTS) == ["nsynth", "folder", "file", "list"]
    with pytest.raises(DataError, match="data not found"):
        open_data(tmp_path / "nothing", **ARGS)


def test_synthetic_notes_folder_is_written_once_and_only_for_synthetic_recipes(tmp_path):
    tree = {"data": {"kind": "synthetic", "clip_seconds": 0.25,
                     "synthetic": {"pitches": [50, 52], "families": ["organ"],
                                   "instruments_per_family": 1, "velocities": [100],
                                   "vibrato_depths": [0.0]}}}  # fmt: skip
    recipe = recipe_from_dict(tree)
    folder = synthetic_notes_folder(recipe.data, tmp_path / "notes")
    assert folder == tmp_path / "notes" and len(open_data(folder, **ARGS).clips) == 2
    stamp = (folder / "examples.json").stat().st_mtime_ns
    assert synthetic_notes_folder(recipe.data, folder) == folder
    assert (folder / "examples.json").stat().st_mtime_ns == stamp
    tree["data"]["train"] = str(folder)
    assert synthetic_notes_folder(recipe_from_dict(tree).data, tmp_path / "other") is None

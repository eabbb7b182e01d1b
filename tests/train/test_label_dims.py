"""label_dims.json: eta^2 per dimension stored when training ends, read back by the API and used
by `swap`, so a run folder swaps a label's dimensions without its training cache."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from support import tiny_tree

from audiovae.api import AudioVAE
from audiovae.audio.io import write_wav
from audiovae.audio.synth import SynthConfig, note_table, render_note
from audiovae.cli import main
from audiovae.features.cache import FeatureCache
from audiovae.models.subspaces import eta_squared
from audiovae.recipe import frontend_from_recipe, recipe_from_dict
from audiovae.train.build import prepare_data
from audiovae.train.labels import factor_labels
from audiovae.train.trainer import Trainer


def test_factor_labels_keep_scalar_factors_only():
    labels = {
        "pitch": [48, 50, 48, 50],
        "id": ["a", "b", "c", "d"],  # one value per note: not a factor
        "qualities": [[0, 1]] * 4,  # lists: left out
        "const": [1, 1, 1, 1],
    }
    assert factor_labels(labels, np.arange(4)) == ["pitch"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, cache_dir):
    """A few steps of the tiny recipe: stored and recomputed figures agree for any weights."""
    out = tmp_path_factory.mktemp("label-dims") / "run"
    Trainer(recipe_from_dict(tiny_tree(cache_dir, max_steps=8, validate_every=4)), out).fit()
    return out


def test_stored_eta_squared_matches_the_api_on_the_training_notes(short_run, cache_dir):
    run = short_run
    vae = AudioVAE.load(run)
    stored = json.loads((run / "label_dims.json").read_text())["checkpoints"]
    assert stored["best"]["step"] == vae.meta["step"] and "last" in stored
    eta = vae.label_eta_squared()
    assert {"pitch", "instrument_family_str", "velocity"} <= set(eta)
    recipe = recipe_from_dict(tiny_tree(cache_dir))
    data = prepare_data(recipe, frontend_from_recipe(recipe), progress=False)
    rows = data.train_indices  # fewer than 4096: every training note was measured
    mu = vae.encode_logmel(data.train.batch(rows))[0].cpu().numpy()
    for name in ("pitch", "instrument_family_str"):
        again = eta_squared(mu, [data.train.labels[name][i] for i in rows])
        np.testing.assert_allclose(eta[name], again, atol=1e-4)
    order = vae.factor_dims("pitch")
    assert order == [int(i) for i in np.argsort(-np.asarray(eta["pitch"]), kind="stable")]
    assert vae.factor_dims("pitch", 3) == order[:3]


def test_swap_on_a_copied_run_folder_needs_no_cache(short_run, tmp_path, monkeypatch):
    copy = shutil.copytree(short_run, tmp_path / "copied")
    cfg = SynthConfig(pitches=(48, 59), families=("guitar",), instruments_per_family=1,
                      velocities=(100,), vibrato_depths=(0.0,), seconds=0.496)  # fmt: skip
    a, b = (write_wav(tmp_path / f"{n}.wav", render_note(r, cfg), 16000, subtype="FLOAT")
            for n, r in zip("ab", note_table(cfg), strict=True))  # fmt: skip

    def gone(*args, **kwargs):
        raise AssertionError("swap opened the training feature cache")

    monkeypatch.setattr(FeatureCache, "open", gone)
    res = CliRunner().invoke(main, ["swap", str(copy), str(a), str(b), "--k", "3",
                                    "-o", str(tmp_path / "out"), "--iters", "2"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"took dimensions {AudioVAE.load(copy).factor_dims('pitch', 3)}" in res.output

"""Training on pairs of notes: batches hold whole pairs (rows 2i, 2i+1), drawn as a pure function
of (seed, step), so resume is bit-exact; validation uses fixed pairs; impossible set-ups are one
line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from support import tiny_tree

from audiovae.errors import DataError, RecipeError
from audiovae.recipe import recipe_from_dict
from audiovae.train.trainer import Trainer


def paired_tree(cache_dir, objective: str = "ada_gvae", **train) -> dict:
    """The tiny recipe with random pairs (Locatello's setting) and a paired objective."""
    tree = tiny_tree(cache_dir, **train)
    tree["data"]["pairs"] = {"share": "random", "unpaired": "skip"}
    tree["objective"] = {"name": objective, "scale": 0.3, "beta": 2.0}
    return tree


def _params(path):
    with safe_open(str(path), "pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith("model.")}


def test_batches_are_whole_pairs_drawn_from_seed_and_step(tmp_path, cache_dir):
    tree = paired_tree(cache_dir, max_steps=4)
    tree["data"]["pairs"] = {"share": ["instrument", "velocity"]}  # pitch differs
    trainer = Trainer(recipe_from_dict(tree), tmp_path / "a")
    batch = trainer.batch_indices(5)
    assert batch.size == 32 and np.isin(batch, trainer.data.train_indices).all()
    labels = trainer.data.train.labels
    for a, b in zip(batch[0::2], batch[1::2], strict=True):
        assert labels["instrument"][a] == labels["instrument"][b]
        assert labels["velocity"][a] == labels["velocity"][b]
        assert labels["pitch"][a] != labels["pitch"][b]
    again = Trainer(recipe_from_dict(tree), tmp_path / "b")
    assert np.array_equal(again.batch_indices(5), batch)
    assert not np.array_equal(again.batch_indices(6), batch)


def test_in_process_resume_with_pairs_equals_uninterrupted(tmp_path, cache_dir):
    tree = paired_tree(cache_dir, max_steps=8, checkpoint_every=1000, validate_every=4)
    tree["data"]["train_crop_seconds"] = 0.4  # random windows too
    recipe = recipe_from_dict(tree)
    summary = Trainer(recipe, tmp_path / "full").fit()
    assert 0 < summary["valid"]["shared_dims"] < 16  # validation ran on pairs
    part = Trainer(recipe, tmp_path / "part")
    part.start_run_folder()
    for _ in range(3):  # stop between validations
        part.train_step()
    part.save()
    Trainer(recipe, tmp_path / "part", resume=True).fit()
    full = _params(tmp_path / "full/checkpoints/last.safetensors")
    resumed = _params(tmp_path / "part/checkpoints/last.safetensors")
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    manifest = json.loads((tmp_path / "full/manifest.json").read_text())
    assert manifest["pairs"]["factors"] == ["instrument", "pitch", "velocity"]
    assert len(manifest["pairs"]["kinds"]) == 6  # every non-empty proper subset of 3 factors
    logged = [json.loads(line) for line in (tmp_path / "full/metrics.jsonl").open()]
    assert any("shared_dims" in r for r in logged if r["split"] == "train")


def test_validation_pairs_start_once_from_each_validation_note(tmp_path, cache_dir):
    trainer = Trainer(recipe_from_dict(paired_tree(cache_dir, max_steps=2)), tmp_path / "v")
    pairs = trainer.valid_pairs
    assert pairs.size % 2 == 0
    assert np.array_equal(pairs[0::2], trainer.data.valid_indices)


def test_pair_set_ups_that_cannot_work_are_one_line_errors(tmp_path, cache_dir):
    tree = paired_tree(cache_dir, max_steps=2, batch_size=31)
    with pytest.raises(RecipeError, match=r"train.batch_size=31 does not split into whole pairs"):
        Trainer(recipe_from_dict(tree), tmp_path / "odd")
    tree = paired_tree(cache_dir, max_steps=2)
    tree["data"]["pairs"] = {"share": ["timbre"], "factors": ["timbre", "pitch"]}
    with pytest.raises(DataError, match=r"^data.pairs: the data has no label 'timbre' \(its "):
        Trainer(recipe_from_dict(tree), tmp_path / "label")
    tree["data"]["pairs"] = {"share": ["instrument", "pitch"]}  # partners only by velocity
    with pytest.raises(DataError, match=r"training notes have no partner that shares \(instr"):
        Trainer(recipe_from_dict(tree), tmp_path / "lonely")

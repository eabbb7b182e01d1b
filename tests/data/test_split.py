"""The run folder's split.json: written by the trainer, equal to the trainer's own split, and
what the report reads its held-out notes from (falling back to the trainer for older runs)."""

from __future__ import annotations

import pytest

from audiovae.data.split import RunSplit, read_split, write_split
from audiovae.errors import CheckpointError


def test_round_trip_and_missing_and_corrupt(tmp_path):
    assert read_split(tmp_path) is None
    split = RunSplit(["a", "b"], ["c"], "fraction")
    write_split(tmp_path, split)
    assert read_split(tmp_path) == split
    (tmp_path / "split.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="split.json"):
        read_split(tmp_path)


def test_trainer_records_its_split(trained_run):
    from audiovae.features.training_data import build_training_data
    from audiovae.recipe import frontend_from_recipe, load_recipe

    run, _ = trained_run
    recipe = load_recipe(run / "recipe.yaml")
    data = build_training_data(recipe, frontend_from_recipe(recipe), progress=False)
    split = read_split(run)
    assert split.valid_from == "fraction"
    assert split.valid_ids == [data.valid.ids[i] for i in data.valid_indices]
    assert split.train_ids == [data.train.ids[i] for i in data.train_indices]


def test_report_reads_the_split_without_rebuilding_the_data(trained_run, monkeypatch, tmp_path):
    import audiovae.features.training_data as training_data
    from audiovae.recipe import load_recipe
    from audiovae.report.heldout import validation_notes

    run, _ = trained_run
    recipe = load_recipe(run / "recipe.yaml")
    old = validation_notes(recipe, 3, 7936, progress=False, run_dir=tmp_path)  # no split.json
    assert old.held_out and len(old.notes) == 3

    def refuse(*args, **kwargs):
        raise AssertionError("the training data was rebuilt although the run recorded its split")

    monkeypatch.setattr(training_data, "build_training_data", refuse)
    new = validation_notes(recipe, 3, 7936, progress=False, run_dir=run)
    assert [n.id for n in new.notes] == [n.id for n in old.notes]
    assert set(n.id for n in new.notes) <= set(read_split(run).valid_ids)

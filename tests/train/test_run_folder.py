"""The run folder's checks and files, without training: resume rules, metrics.jsonl rows."""

from __future__ import annotations

import json

import pytest

from audiovae.errors import AudioVAEError, CheckpointError
from audiovae.recipe import recipe_from_dict
from audiovae.train.run_folder import RunFolder, drop_rows_after, metrics_rows


def test_a_new_run_into_a_used_folder_and_a_resume_from_nothing_are_refused(tmp_path):
    recipe = recipe_from_dict({})
    RunFolder(tmp_path / "new").check_before_start(recipe, resume=False)  # empty: fine
    with pytest.raises(CheckpointError, match="--resume: no checkpoint at"):
        RunFolder(tmp_path / "new").check_before_start(recipe, resume=True)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "recipe.yaml").write_text("{}")
    with pytest.raises(AudioVAEError, match="already holds a run"):
        RunFolder(tmp_path / "used").check_before_start(recipe, resume=False)
    # killed (SIGKILL) before its first checkpoint: say so, and how to start over
    with pytest.raises(CheckpointError, match=r"stopped before its first checkpoint \(every "
                       r"500 steps\).*remove the folder or choose another --out"):  # fmt: skip
        RunFolder(tmp_path / "used").check_before_start(recipe, resume=True)


def test_a_resume_may_change_the_budget_but_nothing_else(tmp_path):
    folder = RunFolder(tmp_path)
    stored = recipe_from_dict({}).to_dict()
    longer = recipe_from_dict({"train": {"max_steps": 900, "epochs": 7, "device": "cpu"}})
    folder.check_same_recipe(stored, longer)
    del stored["model"]["activation"]  # a key added after the run began: its default holds
    folder.check_same_recipe(stored, recipe_from_dict({}))
    with pytest.raises(
        AudioVAEError, match=r"\(model\.latent_dim: 16 -> 4; train\.lr: 0\.001 -> 0\.01\)"
    ):
        folder.check_same_recipe(
            stored, recipe_from_dict({"train": {"lr": 0.01}, "model": {"latent_dim": 4}})
        )


def test_metrics_rows_after_a_resumed_step_are_dropped_and_a_cut_line_skipped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"split": "train", "step": s} for s in (25, 50, 75)] + [{"note": "no step"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"split": "tr')
    assert metrics_rows(path) == rows
    drop_rows_after(path, 50)
    assert metrics_rows(path) == [rows[0], rows[1], rows[3]]
    assert path.read_text().endswith("\n")
    assert RunFolder(tmp_path).last_recorded_step() == 50
    assert RunFolder(tmp_path).kept_checkpoint() == "no checkpoint was written yet"

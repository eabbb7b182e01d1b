"""`audiovae sweep`: grid expansion, a failing member does not stop the others, reruns skip."""

from __future__ import annotations

import csv

import pytest
import yaml
from click.testing import CliRunner
from support import tiny_tree

from audiovae.audio.synth import SynthConfig, write_nsynth_folder
from audiovae.cli import main
from audiovae.errors import RecipeError
from audiovae.train.sweep import expand_grid, member_name


def test_expand_grid_is_the_cartesian_product_in_order():
    grid = expand_grid(["objective.beta=1,4", "model.latent_dim=8,16"])
    assert grid == [
        {"objective.beta": "1", "model.latent_dim": "8"},
        {"objective.beta": "1", "model.latent_dim": "16"},
        {"objective.beta": "4", "model.latent_dim": "8"},
        {"objective.beta": "4", "model.latent_dim": "16"},
    ]
    assert member_name(grid[1]) == "objective.beta-1_model.latent_dim-16"
    with pytest.raises(RecipeError, match="expected KEY=V1,V2"):
        expand_grid(["objective.beta"])


def test_sweep_survives_a_failing_member_and_rerun_skips_finished(tmp_path, cache_dir):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_tree(cache_dir, max_steps=3, checkpoint_every=3)))
    cfg = SynthConfig(pitches=(48, 50), families=("guitar", "organ"), instruments_per_family=2,
                      velocities=(100,), vibrato_depths=(0.0,), seconds=0.496, seed=5)  # fmt: skip
    notes = write_nsynth_folder(tmp_path / "notes", cfg, progress=False)
    args = ["sweep", str(recipe), "--grid", "model.latent_dim=0,4", "--out", str(tmp_path / "sw"),
            "--data", str(notes), "--iwae-clips", "4"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "(1 failed)" in res.output and "latent_dim" in res.output
    rows = list(csv.DictReader(open(tmp_path / "sw/sweep.csv")))
    status = {r["model.latent_dim"]: r["status"] for r in rows}
    assert status == {"4": "done", "0": "failed"}
    failed = [r for r in rows if r["status"] == "failed"][0]
    assert "model.latent_dim" in failed["error"]  # the recipe error, one line
    assert (tmp_path / "sw/recon_vs_kl.png").is_file()
    assert (tmp_path / "sw/metrics_vs_latent_dim.png").is_file()
    again = CliRunner().invoke(main, args)
    rows = list(csv.DictReader(open(tmp_path / "sw/sweep.csv")))
    assert {r["status"] for r in rows} == {"done (skipped)", "failed"}, again.output


def test_sweep_scores_udr_across_seeds_with_parallel_jobs(tmp_path, cache_dir):
    """Two seeds trained at once (--jobs 2), then UDR across them."""
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_tree(cache_dir, max_steps=3, checkpoint_every=3)))
    cfg = SynthConfig(pitches=(48, 50), families=("guitar", "organ"), instruments_per_family=2,
                      velocities=(100,), vibrato_depths=(0.0,), seconds=0.496, seed=6)  # fmt: skip
    notes = write_nsynth_folder(tmp_path / "notes", cfg, progress=False)
    args = ["sweep", str(recipe), "--grid", "model.latent_dim=4", "--seeds", "2", "--metric", "udr",
            "--out", str(tmp_path / "sw"), "--data", str(notes), "--iwae-clips", "0",
            "--jobs", "2"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(tmp_path / "sw/sweep.csv")))
    assert len(rows) == 2 and all(0 <= float(r["udr"]) <= 1 for r in rows)
    assert "udr 0." in res.output
    assert {r["status"] for r in rows} == {"done"} and {r["train.seed"] for r in rows} == {"0", "1"}
    for r in rows:  # each member trained in its own process with its own seed
        trained = yaml.safe_load((tmp_path / "sw" / r["member"] / "recipe.yaml").read_text())
        assert trained["train"]["seed"] == int(r["train.seed"])

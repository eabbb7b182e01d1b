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


def _fake_member_evaluation(kl, disentanglement):
    """An `evaluate` stand-in: writes codes [100, 4] and returns a minimal report."""
    import numpy as np

    def evaluate(folder, data, *, progress, codes_path, **kwargs):
        seed = int(str(folder).rsplit("seed-", 1)[1])
        np.save(codes_path, np.random.default_rng(seed).normal(size=(100, 4)))
        return {
            "reconstruction": {"logmel_mse": 0.5}, "kl_total": float(sum(kl)), "active_units": 1,
            "kl_per_dim": kl, "disentanglement": disentanglement,
        }  # fmt: skip

    return evaluate


def test_sweep_survives_failing_metrics_and_records_them(tmp_path, monkeypatch):
    """One informative dimension per model (the case that made UDR raise), a member whose
    evaluation lost a metric, and then UDR itself failing: every member is still done, every
    other metric kept, and each failure named in the member's row."""
    import json

    from audiovae.train import sweep

    def train(recipe, folder, sets, threads):
        folder.mkdir(parents=True)
        return {"status": "trained"}

    monkeypatch.setattr(sweep, "_train_member", train)
    dis = {"factors": ["pitch"], "mig": 0.5, "errors": {"sap": "ValueError: no"}}
    monkeypatch.setattr(
        "audiovae.metrics.evaluate.evaluate", _fake_member_evaluation([1.0, 0, 0, 0], dis)
    )
    args = dict(data=tmp_path, seeds=2)
    rows = sweep.run_sweep(tmp_path / "r.yaml", ["model.latent_dim=4"], tmp_path / "a", **args)
    assert [r["status"] for r in rows] == ["done", "done"]
    assert all(0 <= r["udr"] <= 1 and r["mig"] == 0.5 for r in rows)
    assert all(r["metric_errors"] == "sap: ValueError: no" for r in rows)

    def broken(*args, **kwargs):
        raise ValueError("udr broke")

    monkeypatch.setattr("audiovae.metrics.udr.udr_scores", broken)
    rows = sweep.run_sweep(tmp_path / "r.yaml", ["model.latent_dim=4"], tmp_path / "b", **args)
    assert [r["status"] for r in rows] == ["done", "done"]
    assert all("udr" not in r and r["mig"] == 0.5 for r in rows)
    assert all(
        r["metric_errors"] == "sap: ValueError: no; udr: ValueError: udr broke" for r in rows
    )
    saved = json.loads((tmp_path / "b" / "sweep.json").read_text())
    assert "udr broke" in saved[0]["metric_errors"]

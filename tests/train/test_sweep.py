"""`audiovae sweep`: grid expansion, a failing member does not stop the others, reruns skip."""

from __future__ import annotations

import csv
import io

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
    rows = list(csv.DictReader(io.StringIO((tmp_path / "sw/sweep.csv").read_text())))
    status = {r["model.latent_dim"]: r["status"] for r in rows}
    assert status == {"4": "done", "0": "failed"}
    failed = [r for r in rows if r["status"] == "failed"][0]
    assert "model.latent_dim" in failed["error"]  # the recipe error, one line
    assert (tmp_path / "sw/recon_vs_kl.png").is_file()
    assert (tmp_path / "sw/metrics_vs_latent_dim.png").is_file()
    again = CliRunner().invoke(main, args)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "sw/sweep.csv").read_text())))
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
    rows = list(csv.DictReader(io.StringIO((tmp_path / "sw/sweep.csv").read_text())))
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

    def train(recipe, folder, sets, threads, running=None):
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


# a member that marks that it started, then trains "forever" unless stopped: it handles SIGTERM
# and SIGUSR1 as the trainer does (checkpoint, exit 75), or exits 75 at once when told to
FAKE_MEMBER = """
import pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])
folder.mkdir(parents=True, exist_ok=True)
def stop(signum, frame):
    (folder / "stopped_by").write_text(signal.Signals(signum).name)
    sys.exit(75)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGUSR1, stop)
(folder / "started").touch()
if "model.latent_dim=8" in sys.argv:
    sys.exit(75)
time.sleep(0.05 if "model.latent_dim=4" in sys.argv else 60)
"""


def _fake_members(monkeypatch):
    import sys

    from audiovae.train import sweep

    monkeypatch.setattr(sweep, "member_command",
                        lambda recipe, folder, sets: [sys.executable, "-c", FAKE_MEMBER,
                                                      str(folder), *sets])  # fmt: skip
    monkeypatch.setattr(
        "audiovae.metrics.evaluate.evaluate", _fake_member_evaluation([1.0, 0, 0, 0], {})
    )
    return sweep


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGUSR1"])
def test_a_stop_request_reaches_the_running_member_and_stops_the_sweep(
    tmp_path, monkeypatch, signame
):
    """SIGTERM / SIGUSR1 to the sweep: the running member gets it and checkpoints (exit 75),
    no other member starts, the table is written, the sweep raises TrainingStopped, and the
    previous signal handlers are back."""
    import os
    import signal
    import threading
    import time

    from audiovae.errors import TrainingStopped

    sweep = _fake_members(monkeypatch)
    out = tmp_path / "s"
    first = out / "model.latent_dim-16_train.seed-0"
    signum = getattr(signal, signame)
    before = signal.getsignal(signum)

    def send_when_started() -> None:
        deadline = time.monotonic() + 30
        while not (first / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signum)

    threading.Thread(target=send_when_started, daemon=True).start()
    with pytest.raises(TrainingStopped, match="1 member.s. stopped, 2 not started"):
        sweep.run_sweep(tmp_path / "r.yaml", ["model.latent_dim=16,32,4"], out, data=tmp_path)
    assert (first / "stopped_by").read_text() == signame
    table = csv.DictReader(io.StringIO((out / "sweep.csv").read_text()))
    statuses = {r["member"]: r["status"] for r in table}
    assert statuses == {first.name: "stopped", "model.latent_dim-32_train.seed-0": "not started",
                        "model.latent_dim-4_train.seed-0": "not started"}  # fmt: skip
    assert not (out / "model.latent_dim-32_train.seed-0").exists()
    assert signal.getsignal(signum) is before


def test_a_member_exiting_75_is_stopped_not_failed_and_the_rest_go_on(tmp_path, monkeypatch):
    from audiovae.errors import TrainingStopped

    sweep = _fake_members(monkeypatch)
    out = tmp_path / "s"
    with pytest.raises(TrainingStopped, match="1 member.s. stopped, 0 not started"):
        sweep.run_sweep(tmp_path / "r.yaml", ["model.latent_dim=8,4"], out, data=tmp_path)
    with open(out / "sweep.csv") as fh:
        statuses = {r["member"]: r["status"] for r in csv.DictReader(fh)}
    assert statuses == {"model.latent_dim-8_train.seed-0": "stopped",
                        "model.latent_dim-4_train.seed-0": "done"}  # fmt: skip


def test_a_stop_with_parallel_members_reaches_each_of_them(tmp_path, monkeypatch):
    import os
    import signal
    import threading
    import time

    from audiovae.errors import TrainingStopped

    sweep = _fake_members(monkeypatch)
    out = tmp_path / "s"
    firsts = [out / f"model.latent_dim-{d}_train.seed-0" for d in (16, 32)]

    def send_when_both_started() -> None:
        deadline = time.monotonic() + 30
        while not all((f / "started").exists() for f in firsts) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=send_when_both_started, daemon=True).start()
    with pytest.raises(TrainingStopped, match="2 member.s. stopped, 1 not started"):
        sweep.run_sweep(tmp_path / "r.yaml", ["model.latent_dim=16,32,64"], out, data=tmp_path,
                        jobs=2)  # fmt: skip
    assert all((f / "stopped_by").read_text() == "SIGTERM" for f in firsts)


def test_a_stop_while_a_member_is_starting_still_reaches_it(tmp_path, monkeypatch):
    """The signal lands while Popen runs (the handler finds no process to pass it to): the
    member is signalled as soon as it is registered, instead of training to its end."""
    import signal
    import subprocess
    import time

    from audiovae.errors import TrainingStopped

    sweep = _fake_members(monkeypatch)
    made = []

    class Recorded(sweep.MemberProcesses):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    real_popen = subprocess.Popen

    def popen_then_signal(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        made[0].request_stop(signal.SIGTERM)  # as the handler would, before `running` has it
        return proc

    monkeypatch.setattr(sweep, "MemberProcesses", Recorded)
    monkeypatch.setattr(sweep.subprocess, "Popen", popen_then_signal)
    started = time.monotonic()
    with pytest.raises(TrainingStopped, match="1 member.s. stopped, 1 not started"):
        sweep.run_sweep(tmp_path / "r.yaml", ["model.latent_dim=16,32"], tmp_path / "s",
                        data=tmp_path)  # fmt: skip
    assert time.monotonic() - started < 30  # the fake member sleeps 60 s unless signalled

"""What machines and clusters do to a run: SIGTERM (alone and under torchrun), a second writer on
the run folder, a damaged `last` checkpoint, a full disk. Each case ends with a run that resumes
where an uninterrupted one would be. The processes are waited on through what they write (rows of
metrics.jsonl, the lock file, their exit), never through fixed sleeps."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from safetensors import safe_open
from support import REPO, tiny_tree

from audiovae.recipe import recipe_from_dict
from audiovae.train.run_folder import LAST, PREVIOUS
from audiovae.train.trainer import Trainer

TIMEOUT = 300  # generous: a loaded 2-core machine; nothing below waits on a fixed sleep


def cli_env(threads: int = 2) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(REPO),
                PYTHONUNBUFFERED="1")  # fmt: skip


def start_train(recipe: Path, out: Path, *extra: str, nproc: int = 1) -> subprocess.Popen:
    """`audiovae train RECIPE --out OUT` (under torchrun with `nproc` > 1), in its own session."""
    if nproc == 1:
        cmd = [sys.executable, "-m", "audiovae", "train", str(recipe), "--out", str(out)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "audiovae", "train", str(recipe),
               "--out", str(out)]  # fmt: skip
    return subprocess.Popen(
        cmd + list(extra), env=cli_env(1 if nproc > 1 else 2), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    """Wait for `proc` (killing its whole session if it hangs); its exit status and stderr."""
    try:
        _, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        raise AssertionError(f"timed out:\n{stderr[-3000:]}") from None
    return proc.returncode, stderr


def wait_until(condition, proc: subprocess.Popen, what: str) -> None:
    """Block until `condition()` holds (checked whenever the file system may have changed);
    fails at once if `proc` exits first, and after TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            _, stderr = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before {what}:\n{stderr[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"no {what} within {TIMEOUT} s")
        time.sleep(0.02)


def logged_steps(run: Path) -> list[int]:
    """Steps of the complete rows of run/metrics.jsonl, in file order."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    steps = []
    for line in path.read_text().splitlines(keepends=True):
        if line.endswith("\n"):
            steps.append(json.loads(line)["step"])
    return steps


def checkpoint_step(path: Path) -> int:
    with safe_open(str(path), "pt") as fh:
        return json.loads(fh.metadata()["audiovae"])["step"]


def params(path: Path) -> dict:
    with safe_open(str(path), "pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith("model.")}


def endless_recipe(tmp_path: Path, cache_dir: Path, **train) -> tuple[Path, dict]:
    """The tiny recipe with a budget no test reaches (the run is stopped by the test, never by
    running out, so there is no race with its end) and a constant learning rate (so the budget
    can be cut to any step on --resume without changing the trajectory)."""
    tree = tiny_tree(cache_dir, max_steps=100_000, schedule="constant", log_every=2,
                     checkpoint_every=1000, validate_every=1000, **train)  # fmt: skip
    path = tmp_path / "endless.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path, tree


def uninterrupted(tree: dict, steps: int, out: Path) -> Path:
    """The same recipe trained in one go to `steps`; its last checkpoint."""
    tree = json.loads(json.dumps(tree))
    tree["train"]["max_steps"] = steps
    Trainer(recipe_from_dict(tree), out).fit()
    return out / LAST


STOPPED = re.compile(r"stopped by (SIGTERM|a signal to another process of the job) at step (\d+)")


def test_sigterm_checkpoints_at_a_step_boundary_and_resume_equals_uninterrupted(
    tmp_path, cache_dir
):
    recipe, tree = endless_recipe(tmp_path, cache_dir)
    run = tmp_path / "run"
    proc = start_train(recipe, run)
    wait_until(lambda: max(logged_steps(run), default=0) >= 6, proc, "step 6 logged")
    os.kill(proc.pid, signal.SIGTERM)
    code, stderr = finish(proc)
    assert code == 75, stderr  # "stopped, resumable"
    line = stderr.strip().splitlines()[-1]
    match = STOPPED.match(line)
    assert match and match[1] == "SIGTERM" and "--resume" in line, line
    stopped = int(match[2])
    assert stopped >= 6 and checkpoint_step(run / LAST) == stopped

    code, stderr = finish(
        start_train(recipe, run, "--resume", "--set", f"train.max_steps={stopped + 4}")
    )
    assert code == 0, stderr
    full = uninterrupted(tree, stopped + 4, tmp_path / "full")
    expected, resumed = params(full), params(run / LAST)
    assert expected.keys() == resumed.keys()
    for k in expected:
        assert torch.equal(expected[k], resumed[k]), k
    assert logged_steps(run) == logged_steps(tmp_path / "full")  # one run's rows, none twice


def _worker(agent: int, rank: int) -> int:
    """PID of torchrun's worker process of `rank` (a child of the agent `agent`)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == agent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no worker of rank {rank} under {agent}")


def test_sigterm_to_one_torchrun_worker_stops_every_rank_at_one_step(tmp_path, cache_dir):
    """The signal reaches rank 1 only; the ranks agree (all-reduce) and both stop at the same
    step, rank 0 writes that step, and a 2-process --resume continues it."""
    recipe, tree = endless_recipe(tmp_path, cache_dir, num_threads=1)
    run = tmp_path / "run"
    proc = start_train(recipe, run, nproc=2)
    wait_until(lambda: max(logged_steps(run), default=0) >= 4, proc, "step 4 logged")
    os.kill(_worker(proc.pid, rank=1), signal.SIGTERM)
    code, stderr = finish(proc)
    assert code != 0, stderr  # torchrun reports its workers' status 75 as a failure
    stops = STOPPED.findall(stderr)
    assert {how for how, _ in stops} == {
        "SIGTERM", "a signal to another process of the job"
    }, stderr[-3000:]  # fmt: skip
    steps = {int(step) for _, step in stops}
    assert len(steps) == 1, stops  # one step on every rank
    stopped = steps.pop()
    assert checkpoint_step(run / LAST) == stopped

    resume = start_train(recipe, run, "--resume", "--set", f"train.max_steps={stopped + 4}",
                         nproc=2)  # fmt: skip
    code, stderr = finish(resume)
    assert code == 0, stderr[-3000:]
    assert checkpoint_step(run / LAST) == stopped + 4
    # 2 processes follow 1 process with the same global batch to float tolerance
    # (tests/train/test_distributed.py); a resume at the wrong step or state would be far off
    expected = params(uninterrupted(tree, stopped + 4, tmp_path / "full"))
    resumed = params(run / LAST)
    for k in expected:
        torch.testing.assert_close(resumed[k], expected[k], rtol=1e-4, atol=1e-5, msg=k)


def test_a_second_train_on_a_folder_in_use_is_refused(tmp_path, cache_dir):
    recipe, _ = endless_recipe(tmp_path, cache_dir)
    run = tmp_path / "run"
    first = start_train(recipe, run)
    lock = run / "train.lock"
    wait_until(
        lambda: logged_steps(run) and lock.is_file() and f"pid {first.pid} " in lock.read_text(),
        first, "the first run training",
    )  # fmt: skip
    cmd = [sys.executable, "-m", "audiovae", "train", str(recipe), "--out", str(run)]
    for extra in ([], ["--resume"]):
        second = subprocess.run(cmd + extra, env=cli_env(), capture_output=True, text=True,
                                timeout=TIMEOUT)  # fmt: skip
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert lines[0].startswith(f"error: {run} is in use") and f"pid {first.pid} " in lines[0]
    assert first.poll() is None, "the first run must go on"
    os.kill(first.pid, signal.SIGTERM)
    code, stderr = finish(first)
    assert code == 75, stderr
    steps = [s for s in logged_steps(run)]
    assert steps == sorted(set(steps)), steps  # one run's rows only
    assert len(list((run / "logs").glob("events.out.tfevents.*"))) == 1
    assert yaml.safe_load((run / "recipe.yaml").read_text())["train"]["max_steps"] == 100_000


def test_a_truncated_last_resumes_from_the_previous_checkpoint_with_a_warning(
    tmp_path, cache_dir, caplog
):
    tree = tiny_tree(cache_dir, max_steps=8, checkpoint_every=4, log_every=2,
                     validate_every=1000)  # fmt: skip
    recipe = recipe_from_dict(tree)
    run = tmp_path / "run"
    Trainer(recipe, run).fit()
    last, previous = run / LAST, run / PREVIOUS
    assert checkpoint_step(last) == 8 and checkpoint_step(previous) == 4
    expected = params(last)
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # a half-written file, as a full disk leaves it

    with caplog.at_level(logging.WARNING, logger="audiovae.train.state"):
        trainer = Trainer(recipe, run, resume=True)
    assert trainer.step == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert str(last) in warnings[0] and str(previous) in warnings[0]
    assert "steps 4-8" in warnings[0], warnings[0]
    trainer.fit()
    resumed = params(last)
    for k in expected:
        assert torch.equal(expected[k], resumed[k]), k
    assert checkpoint_step(previous) == 4  # the damaged file was replaced, not kept
    assert logged_steps(run) == [2, 4, 6, 8, 8]  # rows after step 4 were written once more


def test_disk_full_during_a_checkpoint_keeps_the_previous_and_resume_works(
    tmp_path, cache_dir, monkeypatch
):
    from click.testing import CliRunner

    from audiovae.cli import main
    from audiovae.train import checkpoint
    from audiovae.train.checkpoint import load_checkpoint

    tree = tiny_tree(cache_dir, max_steps=12, checkpoint_every=4, log_every=2,
                     validate_every=1000)  # fmt: skip
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tree))
    run = tmp_path / "run"
    real_save_file, calls = checkpoint.save_file, []

    def disk_full_on_the_second_write(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 2:  # `last` at step 8: a part written, then ENOSPC
            Path(filename).write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        return real_save_file(tensors, filename, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", disk_full_on_the_second_write)
    result = CliRunner().invoke(main, ["train", str(recipe), "--out", str(run)])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: could not write") and "No space left on device" in lines[0]
    assert "stopped at step 8" in lines[0] and "(step 4) is kept" in lines[0], lines[0]
    assert "--resume" in lines[0]
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["last.safetensors"]
    _, meta = load_checkpoint(run / LAST)  # complete, and its checksums match
    assert meta["step"] == 4

    monkeypatch.setattr(checkpoint, "save_file", real_save_file)  # space freed
    result = CliRunner().invoke(main, ["train", str(recipe), "--out", str(run), "--resume"])
    assert result.exit_code == 0, result.output
    expected = params(uninterrupted(tree, 12, tmp_path / "full"))
    resumed = params(run / LAST)
    for k in expected:
        assert torch.equal(expected[k], resumed[k]), k

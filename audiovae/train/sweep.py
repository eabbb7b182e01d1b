"""`audiovae sweep`: train every combination of a grid (x seeds), evaluate each, rank them.

Each member trains in its own process (`python -m audiovae train`), so a crash (or a bad value)
fails that member alone; the others go on and the failure is reported. A rerun skips members whose
evaluation is already written and resumes the ones with a checkpoint.

A stop request (SIGTERM or SIGUSR1, as a cluster sends before preempting a job) is passed on to
the members training at that moment, which checkpoint and exit 75; no further member starts, the
table of what finished is written, and the sweep itself ends with TrainingStopped (exit 75): the
same command again resumes it. A member that exits 75 on its own is "stopped", not "failed".
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from audiovae.errors import RecipeError, TrainingStopped
from audiovae.train.runtime import available_cores


def expand_grid(grids: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
    """`["objective.beta=1,4", "objective.name=beta_vae,beta_tcvae"]` -> every combination, as
    {key: value} dicts in a stable order (the first key varies slowest)."""
    keys, values = [], []
    for grid in grids:
        if "=" not in grid:
            raise RecipeError(f"--grid {grid!r}: expected KEY=V1,V2,..., e.g. objective.beta=1,4")
        key, raw = grid.split("=", 1)
        options = [v.strip() for v in raw.split(",") if v.strip()]
        if not options:
            raise RecipeError(f"--grid {grid!r}: no values")
        keys.append(key.strip())
        values.append(options)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def member_name(assignment: dict[str, str]) -> str:
    """A folder name for one member, e.g. `objective.beta-4_train.seed-0`."""
    parts = [f"{k}-{v}" for k, v in assignment.items()]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts)) or "member"


class MemberProcesses:
    """The member trainings running now, and whether the sweep was asked to stop: a stop
    request reaches every running member and keeps new ones from starting."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # re-entered by a signal handler on the main thread
        self.running: set[subprocess.Popen] = set()
        self.stopping = False  # a plain flag: setting it takes no lock a handler could re-enter
        self.signal = signal.SIGTERM

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop: pass `signum` on to the running members (they checkpoint and exit 75). A
        repeated request changes nothing (the members ignore repeats too)."""
        if self.stopping:
            return
        self.signal, self.stopping = signum, True
        with self.lock:
            for proc in list(self.running):
                if proc.poll() is None:
                    proc.send_signal(signum)

    def run(self, cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess | None:
        """Run one member's command to its end (None if the sweep is stopping already)."""
        with self.lock:
            if self.stopping:
                return None
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=env)  # fmt: skip
            self.running.add(proc)
        if self.stopping:  # the request came while Popen ran (its handler found no process)
            proc.send_signal(self.signal)
        try:
            out, err = proc.communicate()
        except BaseException:  # Ctrl-C or an error here: no member left running without us
            proc.kill()
            proc.wait()
            raise
        finally:
            with self.lock:
                self.running.discard(proc)
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@contextmanager
def stops_forwarded(members: MemberProcesses) -> Iterator[None]:
    """While inside: SIGTERM and SIGUSR1 ask `members` to stop instead of killing the sweep
    (only where handlers can be set: the main thread); the previous handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [s for s in (signal.SIGTERM, getattr(signal, "SIGUSR1", None)) if s is not None]
    before = {s: signal.getsignal(s) for s in wanted}  # None: set outside Python -> default
    for s in wanted:
        signal.signal(s, lambda signum, frame: members.request_stop(signum))
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


def member_command(recipe: Path, folder: Path, sets: list[str]) -> list[str]:
    """The `audiovae train` command of one member (with --resume when it has a checkpoint)."""
    cmd = [sys.executable, "-m", "audiovae", "train", str(recipe), "--out", str(folder),
           "--set", "train.progress=false"]  # fmt: skip
    for assignment in sets:
        cmd += ["--set", assignment]
    if (folder / "checkpoints" / "last.safetensors").is_file():
        cmd.append("--resume")
    return cmd


def _train_member(recipe: Path, folder: Path, sets: list[str], threads: int,
                  members: MemberProcesses | None = None) -> dict[str, Any]:  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    done = (members or MemberProcesses()).run(member_command(recipe, folder, sets), env)
    if done is None:
        return {"status": "not started"}
    killed_while_stopping = done.returncode < 0 and members is not None and members.stopping
    if done.returncode == TrainingStopped.EXIT_STOPPED or killed_while_stopping:
        return {"status": "stopped", "error": "stopped by a signal; rerun the sweep to resume"}
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return {"status": "failed", "error": lines[-1] if lines else f"exit {done.returncode}"}
    return {"status": "trained"}


def run_sweep(
    recipe: str | Path,
    grids: list[str],
    out: str | Path,
    *,
    data: str | Path,
    sets: list[str] | tuple[str, ...] = (),
    seeds: int = 1,
    jobs: int = 1,
    metric: str = "mig",
    evaluate_kwargs: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Train and evaluate every member; write sweep.csv and sweep.json in `out`; return rows
    ranked by `metric` (best first; failed members last). Raises TrainingStopped, after writing
    the table, when a member was stopped (a stop request, or a member's own exit 75)."""
    from audiovae.metrics.evaluate import evaluate

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    members = [
        {**combo, "train.seed": str(seed)} for combo in expand_grid(grids) for seed in range(seeds)
    ]
    threads = max(1, available_cores() // max(1, jobs))
    running = MemberProcesses()

    def one(assignment: dict[str, str]) -> dict[str, Any]:
        folder = out / member_name(assignment)
        row: dict[str, Any] = {"member": folder.name, **assignment}
        report = folder / "evaluate.json"
        if report.is_file():
            return {**row, "status": "done (skipped)", **_summary(json.loads(report.read_text()))}
        if running.stopping:
            return {**row, "status": "not started"}
        member_sets = [*sets, *(f"{k}={v}" for k, v in assignment.items())]
        trained = _train_member(Path(recipe), folder, member_sets, threads, running)
        if trained["status"] != "trained":
            return {**row, **trained}
        try:
            result = evaluate(folder, data, progress=False, codes_path=folder / "codes.npy",
                              **(evaluate_kwargs or {}))  # fmt: skip
        except Exception as exc:  # a member's evaluation failing must not stop the sweep
            return {**row, "status": "failed", "error": f"evaluate: {exc}"}
        report.write_text(json.dumps(result, indent=1))
        return {**row, "status": "done", **_summary(result)}

    with stops_forwarded(running):  # until the table is written: a stop then waits for it
        if jobs > 1:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                rows = list(pool.map(one, members))
        else:
            rows = [one(m) for m in members]
        _add_udr(out, rows)
        rows.sort(key=lambda r: (r.get(metric) is None, -(r.get(metric) or 0.0)))
        _write(out, rows)
    stopped = sum(r["status"] == "stopped" for r in rows)
    waiting = sum(r["status"] == "not started" for r in rows)
    if stopped or waiting:
        raise TrainingStopped(
            f"sweep {out} stopped: {stopped} member(s) stopped, {waiting} not started; "
            "run the same command again to resume"
        )
    return rows


def _add_udr(out: Path, rows: list[dict[str, Any]]) -> None:
    """UDR (Duan et al. 2020) of every evaluated member against the other seeds of its grid
    cell, from the codes each evaluation saved on the same clips (needs >= 2 seeds)."""
    import numpy as np

    from audiovae.metrics.udr import udr_scores

    cells: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        codes = out / row["member"] / "codes.npy"
        report = out / row["member"] / "evaluate.json"
        if row["status"].startswith("done") and codes.is_file() and report.is_file():
            key = tuple((k, v) for k, v in row.items() if "." in k and k != "train.seed")
            cells.setdefault(key, []).append(row)
    for members in cells.values():
        if len(members) < 2:
            continue
        codes = [np.load(out / r["member"] / "codes.npy") for r in members]
        kl = [json.loads((out / r["member"] / "evaluate.json").read_text())["kl_per_dim"]
              for r in members]  # fmt: skip
        try:  # a metric failing must not stop the sweep: record it on the cell's rows
            scores, _ = udr_scores(codes, [np.asarray(k) for k in kl])
        except Exception as exc:
            for row in members:
                _note_metric_error(row, "udr", exc)
            continue
        for row, score in zip(members, scores, strict=True):
            row["udr"] = float(score)


def _note_metric_error(row: dict[str, Any], metric: str, error: Exception | str) -> None:
    """Record on a member's row that `metric` failed (its other metrics stand)."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    previous = row.get("metric_errors")
    row["metric_errors"] = f"{previous}; {metric}: {text}" if previous else f"{metric}: {text}"


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    dis = result.get("disentanglement", {})
    row = {
        "logmel_mse": result["reconstruction"]["logmel_mse"],
        "kl_total": result["kl_total"],
        "active_units": result["active_units"],
    }
    for key in ("mig", "sap", "factor_vae_score", "beta_vae_score"):
        if key in dis:
            row[key] = dis[key]
    if "dci" in dis:
        row.update({f"dci_{k}": v for k, v in dis["dci"].items()})
    for metric, error in dis.get("errors", {}).items():
        _note_metric_error(row, metric, error)
    return row


def _write(out: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(out / "sweep.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    (out / "sweep.json").write_text(json.dumps(rows, indent=1))
    _plot(out, rows)


METRICS = (
    "mig",
    "sap",
    "dci_disentanglement",
    "factor_vae_score",
    "beta_vae_score",
    "udr",
    "logmel_mse",
)


def _seed_means(points: list[tuple[float, float]]) -> np.ndarray:
    """[(x, mean, sd)] over the points sharing each x (the seeds of one grid cell), sorted by x."""
    by_x: dict[float, list[float]] = {}
    for x, y in points:
        by_x.setdefault(x, []).append(y)
    return np.array(
        [
            (x, np.mean(ys), np.std(ys, ddof=1) if len(ys) > 1 else 0.0)
            for x, ys in sorted(by_x.items())
        ]
    )


def _plot(out: Path, rows: list[dict[str, Any]]) -> None:
    """Reconstruction against KL (each member a labelled point) and, for every numeric grid key,
    each metric against it, one line per value of the other keys (PNGs beside the CSV)."""
    from audiovae.plots import plt

    done = [r for r in rows if "kl_total" in r]
    if not done:
        return
    grid_keys = [k for k in done[0] if "." in k and k != "train.seed"]
    for key in grid_keys:
        try:
            xs = [float(r[key]) for r in done]
        except ValueError:
            continue
        others = [k for k in grid_keys if k != key]
        fig, axes = plt.subplots(1, len(METRICS), figsize=(3.2 * len(METRICS), 3.2),
                                 constrained_layout=True)  # fmt: skip
        for ax, metric in zip(axes, METRICS, strict=True):
            groups: dict[str, list[tuple[float, float]]] = {}
            for x, r in zip(xs, done, strict=True):
                if metric in r:
                    label = ", ".join(f"{k.split('.')[-1]} {r[k]}" for k in others) or "all"
                    groups.setdefault(label, []).append((x, float(r[metric])))
            for label, points in sorted(groups.items()):
                line = _seed_means(points)
                shown = ax.errorbar(line[:, 0], line[:, 1], yerr=line[:, 2], fmt="o-",
                                    capsize=3, label=label, alpha=0.9)  # fmt: skip
                seeds = np.asarray(points)
                ax.plot(seeds[:, 0], seeds[:, 1], ".", color=shown[0].get_color(), alpha=0.4)
            if min(xs) > 0 and max(xs) / min(xs) >= 8:
                ax.set_xscale("log", base=2)
            ax.set_xlabel(key)
            ax.set_title(metric, fontsize=9)
        if axes[0].get_legend_handles_labels()[0]:  # no curve to name when no member scored
            axes[0].legend(fontsize=6)
        fig.suptitle("mean ± sd over seeds (dots: each seed)", fontsize=9)
        fig.savefig(out / f"metrics_vs_{key.split('.')[-1]}.png", dpi=100)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    for r in done:
        ax.scatter(r["kl_total"], r["logmel_mse"])
        ax.annotate(r["member"], (r["kl_total"], r["logmel_mse"]), fontsize=6)
    ax.set_xlabel("KL (nats per clip)")
    ax.set_ylabel("log-mel MSE")
    ax.set_title("reconstruction against KL")
    fig.savefig(out / "recon_vs_kl.png", dpi=100)
    plt.close(fig)

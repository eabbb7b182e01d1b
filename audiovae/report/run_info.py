"""What a run folder records about its training: recipe, manifest, logged terms, wall time and the
JSON files `audiovae evaluate` wrote beside it. No model is loaded here."""

from __future__ import annotations

import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from audiovae.errors import CheckpointError
from audiovae.run_manifest import MANIFEST_FILE, RunManifest

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "best.safetensors"  # what AudioVAE.load reads by default
EVALUATE_GLOB = "evaluate-*.json"  # `audiovae evaluate`'s default output: RUN/evaluate-<data>.json
BOOKKEEPING = ("split", "step", "lr", "kl_per_dim", "active_dims", "examples_per_s", "gpu_mem_gb")
THROUGHPUT = "examples_per_s"
"""Keys of a metrics.jsonl record that are not loss terms."""


@dataclass
class RunInfo:
    """The facts of one run folder, with every local path reduced to a name.

    Attributes:
        name: the run folder's name (never its path).
        recipe: the resolved recipe (recipe.yaml), paths redacted.
        manifest: manifest.json (model, front end, data summary, versions), paths redacted;
            None if the folder has none (or it is not readable JSON).
        history: the records of metrics.jsonl in order ({"split", "step", terms...}).
        wall_seconds: training time from the TensorBoard event times, None if not recorded.
        evaluations: (file name, result) of each evaluate JSON in the folder.
    """

    name: str
    recipe: dict[str, Any]
    manifest: RunManifest | None
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float | None = None
    evaluations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def records(self, split: str) -> list[dict[str, Any]]:
        """The metrics.jsonl records of one split ("train" or "valid"), in step order."""
        return [r for r in self.history if r.get("split") == split]

    def final(self, split: str) -> dict[str, float]:
        """The loss terms of the last record of `split` (empty if none was logged)."""
        rows = self.records(split)
        if not rows:
            return {}
        return {k: v for k, v in rows[-1].items() if k not in BOOKKEEPING and _number(v)}

    def examples_per_s(self) -> float | None:
        """Median training throughput over the logged windows (None for runs before it was
        logged)."""
        rates = [r[THROUGHPUT] for r in self.records("train") if _number(r.get(THROUGHPUT))]
        return statistics.median(rates) if rates else None

    @property
    def steps(self) -> int:
        """The last step logged (0 before the first log)."""
        return max((int(r.get("step", 0)) for r in self.history), default=0)

    def term_names(self) -> list[str]:
        """Every loss term logged: loss, recon and kl first, then the objective's own terms."""
        names: list[str] = []
        for record in self.history:
            for key, value in record.items():
                if key not in BOOKKEEPING and key not in names and _number(value):
                    names.append(key)
        first = [k for k in ("loss", "recon", "kl") if k in names]
        return first + [k for k in names if k not in first]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_run(run_dir: str | Path) -> RunInfo:
    """Read a trained run folder; CheckpointError (one line, naming the path) if it is none."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT
    if not checkpoint.is_file():
        raise CheckpointError(
            f"{run_dir}: no checkpoint at {checkpoint} (a report needs a trained run folder: "
            f"audiovae train RECIPE --out {run_dir})"
        )
    recipe_file = run_dir / "recipe.yaml"
    if not recipe_file.is_file():
        raise CheckpointError(f"{run_dir}: no recipe.yaml (is it a run folder?)")
    try:
        recipe = yaml.safe_load(recipe_file.read_text()) or {}
    except yaml.YAMLError as err:
        raise CheckpointError(f"{recipe_file}: invalid YAML ({err})") from None
    manifest = _read_json(run_dir / MANIFEST_FILE)
    if manifest is not None:
        manifest = RunManifest.from_dict(redact_paths(manifest), run_dir / MANIFEST_FILE)
    return RunInfo(
        name=run_dir.resolve().name,
        recipe=redact_paths(recipe),
        manifest=manifest,
        history=read_history(run_dir / "metrics.jsonl"),
        wall_seconds=wall_time(run_dir / "logs"),
        evaluations=[
            (path.name, redact_paths(result))
            for path in sorted(run_dir.glob(EVALUATE_GLOB))
            if isinstance(result := _read_json(path), dict)
        ],
    )


def _read_json(path: Path) -> Any:
    """A JSON file's content, None (with a warning) if missing or unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        log.warning("%s: not readable JSON (%s); left out of the report", path.name, err)
        return None


def read_history(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl; a line cut short by a killed run is skipped."""
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s line %d: not JSON; skipped", path.name, number)
            continue
        if isinstance(record, dict) and "step" in record:
            records.append(record)
    return records


def wall_time(log_dir: Path) -> float | None:
    """Seconds of training: first to last TensorBoard event of each event file (one per start or
    resume), summed, so pauses between a stop and a `--resume` do not count. None without logs."""
    files = sorted(log_dir.glob("events.out.tfevents.*")) if log_dir.is_dir() else []
    if not files:
        return None
    from audiovae.report.tf_events import event_wall_times

    total = 0.0
    for path in files:
        try:
            times = event_wall_times(path)
        except (OSError, ValueError) as err:  # a foreign file: the report goes on without it
            log.warning("%s: unreadable TensorBoard events (%s)", path.name, err)
            continue
        if times:
            total += max(times) - min(times)
    return total or None


def redact_paths(value: Any) -> Any:
    """A copy of a JSON-like tree in which every absolute or home-relative path string becomes
    `.../<name>`: the report must not reveal where files lie on the machine that wrote it."""
    if isinstance(value, dict):
        return {k: redact_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_paths(v) for v in value]
    if isinstance(value, str) and _is_local_path(value):
        return ".../" + Path(value.rstrip("/\\")).name
    return value


def _is_local_path(text: str) -> bool:
    if "\n" in text or len(text) < 2:
        return False
    if text.startswith(("/", "~")):
        return True
    return len(text) > 2 and text[1] == ":" and text[2] in "/\\" and text[0].isalpha()

"""Mean ± sd over seeds of `audiovae evaluate` results: the listening table, one row per model.

Result files are grouped by name: `runs/beta_vae-0.eval.json`, `runs/beta_vae-1.eval.json` and
`runs/beta_vae-2/evaluate-notes.json` (the run folder `beta_vae-2`) all belong to `beta_vae`, the
name with a trailing `-<seed>`, `_s<seed>` or `_train.seed-<seed>` (a sweep member's folder, whose
result is `evaluate.json`) removed. Each column is the mean over a group's files and the sample
standard deviation (n - 1); a column a file lacks (no listening test, no pitch factor) is left
out of that group's mean, the cell then says over how many files (`n=2`), and it is reported as
missing when no file has it.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiovae.errors import AudioVAEError


@dataclass(frozen=True)
class Column:
    """One table column: its header, how a value is printed and how it is read from a result."""

    key: str
    header: str
    fmt: str  # format of one number, e.g. "{:.0f}%"


COLUMNS = [
    Column("within", "swap within ±50 c", "{:.0f}%"),
    Column("cents", "median cents", "{:.0f}"),
    Column("kept", "family kept", "{:.0f}%"),
    Column("instrument_kept", "instrument kept", "{:.0f}%"),
    Column("pitch_from_timbre", "pitch from timbre dims", "{:.0f}%"),
    Column("family_from_pitch", "family from pitch dims", "{:.0f}%"),
    Column("mig_pitch", "MIG pitch", "{:.3f}"),
    Column("mig", "MIG", "{:.3f}"),
    Column("mse", "log-mel MSE", "{:.3f}"),
]

_SEED = re.compile(r"(?:-|_s|_train\.seed-)(\d+)$")


def group_name(path: str | Path) -> str:
    """The model a result file belongs to: its name (or, for `evaluate-*.json` inside a run
    folder, the folder's) without `.eval.json` / `.json` and without a trailing seed."""
    path = Path(path)
    inside_run = path.name == "evaluate.json" or path.name.startswith("evaluate-")
    stem = path.resolve().parent.name if inside_run else path.name
    for suffix in (".json", ".eval"):
        stem = stem.removesuffix(suffix)
    return _SEED.sub("", stem) or stem


def _get(tree: dict, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _percent(value: Any) -> float | None:
    return None if value is None else 100.0 * float(value)


def mig_of(disentanglement: dict, factor: str) -> float | None:
    """MIG of one named factor from an evaluate result's disentanglement section, or None."""
    names = disentanglement.get("factors") or []
    details = disentanglement.get("mig_details") or {}
    per = details.get("per_factor")
    if factor not in names or per is None:
        return None
    columns = details.get("factors", list(range(len(per))))
    column = names.index(factor)
    return float(per[columns.index(column)]) if column in columns else None


def result_values(result: dict) -> dict[str, float | None]:
    """The table's numbers from one `audiovae evaluate` result (None where it has none)."""
    listening = result.get("listening") or {}
    dis = result.get("disentanglement") or {}
    mse = _get(result, "reconstruction", "logmel_mse")
    return {
        "within": _percent(_get(listening, "swap", "within_50_cents")),
        "cents": _get(listening, "swap", "median_abs_cents"),
        "kept": _percent(_get(listening, "swap", "family_kept")),
        "instrument_kept": _percent(_get(listening, "swap", "instrument_kept")),
        "pitch_from_timbre": _percent(_get(listening, "leakage", "pitch_from_timbre", "accuracy")),
        "family_from_pitch": _percent(_get(listening, "leakage", "family_from_pitch", "accuracy")),
        "mig_pitch": mig_of(dis, "pitch"),
        "mig": dis.get("mig"),
        "mse": None if mse is None else float(mse),
        "ceiling_within": _percent(_get(listening, "ceiling", "within_50_cents")),
        "ceiling_cents": _get(listening, "ceiling", "median_abs_cents"),
        "ceiling_kept": _percent(_get(listening, "ceiling", "family_kept")),
        "ceiling_instrument_kept": _percent(_get(listening, "ceiling", "instrument_kept")),
        "chance_instrument": _percent(_get(listening, "swap", "instrument_chance")),
        "chance_pitch": _percent(_get(listening, "leakage", "pitch_from_timbre", "chance")),
        "chance_family": _percent(_get(listening, "leakage", "family_from_pitch", "chance")),
    }


def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, sample sd or None for one value, count) over the values that are not None."""
    present = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not present:
        return None, None, 0
    sd = statistics.stdev(present) if len(present) > 1 else None
    return statistics.fmean(present), sd, len(present)


def group_files(paths: Sequence[str | Path]) -> dict[str, list[Path]]:
    """The files of each group, in the order first seen (what `compare` prints to stderr)."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        groups.setdefault(group_name(path), []).append(Path(path))
    return groups


def read_results(paths: Sequence[str | Path]) -> dict[str, list[dict]]:
    """Load evaluate results and group them by model name, in the order first seen."""
    groups: dict[str, list[dict]] = {}
    for path in paths:
        path = Path(path)
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise AudioVAEError(f"{path}: not a readable JSON file ({exc})") from None
        if not isinstance(result, dict) or "reconstruction" not in result:
            raise AudioVAEError(f"{path}: not an `audiovae evaluate` result (no 'reconstruction')")
        groups.setdefault(group_name(path), []).append(result)
    return groups


def summarise(groups: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """One row per group: {"model", "runs", key: (mean, sd, n) for every column and the
    ceiling / chance keys}."""
    rows = []
    for name, results in groups.items():
        values = [result_values(r) for r in results]
        data = sorted({str(r.get("data")) for r in results})
        row: dict[str, Any] = {"model": name, "runs": len(results), "data": ", ".join(data)}
        for key in values[0]:
            row[key] = mean_sd([v[key] for v in values])
        rows.append(row)
    return rows


def _cell(stat: tuple[float | None, float | None, int], fmt: str, runs: int = 0) -> str:
    mean, sd, n = stat
    if mean is None:
        return "–"
    text = fmt.format(mean) if sd is None else f"{fmt.format(mean)} ± {fmt.format(sd)}"
    return f"{text} (n={n})" if n < runs else text


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, chance levels in the headers and a ceiling row (the
    listening test's "B resynthesised, no model": the same for every run scored on the same
    data, so its mean over those groups). Rows scored on different data get one ceiling row
    per data set, and no chance in the headers (chance depends on the data)."""
    datasets = list(dict.fromkeys(r.get("data", "") for r in rows))

    def header(column: Column) -> str:
        chance = {"pitch_from_timbre": "chance_pitch", "family_from_pitch": "chance_family",
                  "instrument_kept": "chance_instrument"}  # fmt: skip
        if column.key in chance and len(datasets) == 1:
            stat = mean_sd([r[chance[column.key]][0] for r in rows])
            if stat[0] is not None:
                return f"{column.header} (chance {stat[0]:.0f}%)"
        return column.header

    lines = ["| model | runs | " + " | ".join(header(c) for c in COLUMNS) + " |"]
    lines.append("|---" * (len(COLUMNS) + 2) + "|")
    for row in rows:
        cells = [_cell(row[c.key], c.fmt, row["runs"]) for c in COLUMNS]
        lines.append(f"| {row['model']} | {row['runs']} | " + " | ".join(cells) + " |")
    keys = ("within", "cents", "kept", "instrument_kept")
    for data in datasets:
        same = [r for r in rows if r.get("data", "") == data]
        ceiling = {k: mean_sd([r[f"ceiling_{k}"][0] for r in same]) for k in keys}
        if ceiling["within"][0] is None:
            continue
        cells = [
            _cell(ceiling["within"], "{:.0f}%"),
            _cell(ceiling["cents"], "{:.0f}"),
            _cell(ceiling["kept"], "{:.0f}%"),
            _cell(ceiling["instrument_kept"], "{:.0f}%"),
        ]
        cells += [""] * (len(COLUMNS) - 4)
        where = f" on {Path(data).name}" if len(datasets) > 1 else ""
        lines.append(f"| ceiling{where}: B resynthesised, no model | | " + " | ".join(cells) + " |")
    return "\n".join(lines)

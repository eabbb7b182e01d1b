"""The features file: `Features` (rows of latent means, log-variances and labels) and the formats
it is written in, a registry like `deploy`'s (`FORMATS`: npz, csv, parquet), each a writer and a
reader; adding a format is adding an entry.

    >>> save_features(feats, "notes.parquet")                     # doctest: +SKIP
    >>> load_features("notes.parquet").mu.shape                   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audiovae.errors import AudioVAEError, DataError

RESERVED = (
    *("name", "mu", "logvar", "start_seconds", "source", "model", "label_names", "pool"),
    *("file", "allow_pickle"),  # keyword arguments of np.savez
)
"""Array / column names of a features file that are not labels (a label so named gets `label_`)."""


@dataclass
class Features:
    """Rows of latent features: one per clip, or per window with `start_seconds`.

    Attributes:
        name: unicode [rows]: NSynth note_str, path relative to the folder, or the list's line.
        mu, logvar: float32 [rows, latent_dim]: posterior mean and log-variance.
        labels: label name -> array [rows] (or [rows, k] for list labels such as `qualities`).
        source: the data folder or list file the rows came from (resolved path).
        model: the run folder of the model ("" when unknown).
        start_seconds: float32 [rows] start of each window (per-window rows only), else None.
        pool: "" (no pooling), "mean" or "max".
        skipped: {"id", "reason"} for every file left out as unreadable.
        dropped_labels: labels that cannot be stored as a non-object array (ragged lists, None).
    """

    name: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    model: str = ""
    start_seconds: np.ndarray | None = None
    pool: str = ""
    skipped: list[dict[str, str]] = field(default_factory=list)
    dropped_labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.mu.shape[0])

    @property
    def latent_dim(self) -> int:
        """Number of latent dimensions (columns of mu)."""
        return int(self.mu.shape[1])


@dataclass(frozen=True)
class FeatureFormat:
    """One file format: its name (also its suffix), a writer, a reader, and a check that the
    libraries it needs are installed (run before any clip is encoded)."""

    name: str
    write: Callable[[Features, Path], None]
    read: Callable[[Path], Features]
    check: Callable[[], object] = lambda: None


# --------------------------------------------------------------------------- npz


def _write_npz(f: Features, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {
        "name": np.asarray(f.name, dtype=str).reshape(-1),
        "mu": np.asarray(f.mu, dtype=np.float32),
        "logvar": np.asarray(f.logvar, dtype=np.float32),
    }
    if f.start_seconds is not None:
        arrays["start_seconds"] = np.asarray(f.start_seconds, dtype=np.float32)
    arrays.update(f.labels)
    arrays["label_names"] = np.array(list(f.labels), dtype=str).reshape(-1)
    arrays["source"] = np.array(f.source, dtype=str)
    arrays["model"] = np.array(f.model, dtype=str)
    arrays["pool"] = np.array(f.pool, dtype=str)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _read_npz(path: Path) -> Features:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a features .npz file ({err})") from None
    missing = [k for k in ("name", "mu", "logvar") if k not in arrays]
    if missing:
        raise DataError(f"{path}: no {', '.join(missing)} array (not written by extract?)")
    names = [str(n) for n in arrays.get("label_names", [])]
    return Features(
        name=arrays["name"],
        mu=arrays["mu"].astype(np.float32),
        logvar=arrays["logvar"].astype(np.float32),
        labels={key: arrays[key] for key in names},
        source=str(arrays.get("source", "")),
        model=str(arrays.get("model", "")),
        start_seconds=arrays.get("start_seconds"),
        pool=str(arrays.get("pool", "")),
    )


# --------------------------------------------------------------------------- flat tables


def _flat_columns(f: Features) -> dict[str, np.ndarray]:
    """Column name -> 1-D array: name, start_seconds, mu_i, logvar_i, labels (2-D as name_j)."""
    columns: dict[str, np.ndarray] = {"name": np.asarray(f.name, dtype=str)}
    if f.start_seconds is not None:
        columns["start_seconds"] = np.asarray(f.start_seconds, dtype=np.float32)
    for key in ("mu", "logvar"):
        values = np.asarray(getattr(f, key), dtype=np.float32)
        columns.update({f"{key}_{j}": values[:, j] for j in range(values.shape[1])})
    for key, values in f.labels.items():
        if values.ndim == 2:
            columns.update({f"{key}_{j}": values[:, j] for j in range(values.shape[1])})
        else:
            columns[key] = values
    return columns


def _from_columns(path: Path, columns: dict[str, list[str]], meta: dict[str, Any]) -> Features:
    if "name" not in columns:
        raise DataError(f"{path}: no name column (not written by extract?)")

    def block(prefix: str) -> np.ndarray:
        keys = sorted(
            (k for k in columns if re.fullmatch(rf"{prefix}_\d+", k)),
            key=lambda k: int(k.rsplit("_", 1)[1]),
        )
        if not keys:
            raise DataError(f"{path}: no {prefix}_0... columns (not written by extract?)")
        return np.array([columns.pop(k) for k in keys], dtype=np.float32).T

    name = np.array(columns.pop("name"), dtype=str)
    mu, logvar = block("mu"), block("logvar")
    starts = columns.pop("start_seconds", None)
    stacked = {}  # 2-D labels written as name_0, name_1, ...: whole again where the file says so
    for key in meta.get("label_names", []):
        if key not in columns:
            parts = [k for k in columns if re.fullmatch(rf"{re.escape(key)}_\d+", k)]
            parts.sort(key=lambda k: int(k.rsplit("_", 1)[1]))
            if parts:
                stacked[key] = np.stack([_parse_column(columns.pop(k)) for k in parts], axis=1)
    labels = {key: _parse_column(values) for key, values in columns.items()} | stacked
    return Features(
        name=name,
        mu=mu,
        logvar=logvar,
        labels=labels,
        source=str(meta.get("source", "")),
        model=str(meta.get("model", "")),
        start_seconds=None if starts is None else np.array(starts, dtype=np.float32),
        pool=str(meta.get("pool", "")),
    )


def _parse_column(values: list[str]) -> np.ndarray:
    """Ints if every value is an int, else floats if every one parses, else strings."""
    if values and all(re.fullmatch(r"[+-]?\d+", v.strip()) for v in values):
        return np.array([int(v) for v in values], dtype=np.int64)
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)


# --------------------------------------------------------------------------- csv


def _cell(value: Any) -> str:
    if isinstance(value, (np.floating, float)):
        return format(float(value), ".9g")
    return str(value.item() if isinstance(value, np.generic) else value)


def _write_csv(f: Features, path: Path) -> None:
    columns = _flat_columns(f)
    columns["source"] = np.full(len(f), f.source, dtype=object)
    columns["model"] = np.full(len(f), f.model, dtype=object)
    names = list(columns)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in range(len(f)):
            writer.writerow([_cell(columns[name][row]) for name in names])


def _read_csv(path: Path) -> Features:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise DataError(f"{path}: empty features CSV")
    header, body = rows[0], rows[1:]
    columns = {name: [row[j] for row in body] for j, name in enumerate(header)}
    meta = {k: (columns.pop(k)[:1] or [""])[0] for k in ("source", "model") if k in columns}
    return _from_columns(path, columns, meta)


# --------------------------------------------------------------------------- parquet


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise AudioVAEError(
            "parquet needs the pyarrow package (pip install pyarrow), or write --format npz or csv"
        ) from None
    return pyarrow


def _write_parquet(f: Features, path: Path) -> None:
    pa = _pyarrow()
    columns = {key: value.tolist() for key, value in _flat_columns(f).items()}
    meta = {"source": f.source, "model": f.model, "pool": f.pool, "label_names": list(f.labels)}
    table = pa.table(columns).replace_schema_metadata({"audiovae": json.dumps(meta)})
    pa.parquet.write_table(table, str(path))


def _read_parquet(path: Path) -> Features:
    table = _pyarrow().parquet.read_table(str(path))
    names = table.schema.names
    columns = {name: [str(v) for v in table.column(name).to_pylist()] for name in names}
    meta = json.loads((table.schema.metadata or {}).get(b"audiovae", b"{}"))
    return _from_columns(path, columns, meta)


FORMATS: dict[str, FeatureFormat] = {
    f.name: f
    for f in (
        FeatureFormat("npz", _write_npz, _read_npz),
        FeatureFormat("csv", _write_csv, _read_csv),
        FeatureFormat("parquet", _write_parquet, _read_parquet, check=_pyarrow),
    )
}
"""Features file formats by name (the name is also the file suffix that selects it)."""


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """The format to write `path` in: `fmt`, else the file's suffix, else npz; checks that the
    libraries it needs are installed (before any clip is encoded)."""
    if fmt is None:
        suffix = Path(path).suffix.lower().lstrip(".")
        fmt = suffix if suffix in FORMATS else "npz"
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    FORMATS[fmt].check()
    return fmt


def save_features(features: Features, path: str | Path, fmt: str | None = None) -> Path:
    """Write Features as npz (loads with allow_pickle=False), csv or parquet; atomic."""
    path = Path(path)
    fmt = output_format(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        FORMATS[fmt].write(features, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_features(path: str | Path) -> Features:
    """Read a features file written by `save_features` (npz, csv or parquet, by suffix)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"features file not found: {path}")
    return FORMATS[output_format(path)].read(path)

"""The train / validation split of a run, as clip ids, written into the run folder when training
starts (`split.json`) so that whoever reads the run later (the report's held-out notes) finds its
validation clips without rebuilding the training data."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from audiovae.errors import CheckpointError

SPLIT_FILE = "split.json"


@dataclass
class RunSplit:
    """Clip ids of the training and validation sets; `valid_from` is "folder" when the recipe
    named a validation folder (`data.valid`), "fraction" when the trainer held out a seeded
    fraction of the training clips (then both ids come from the training data)."""

    train_ids: list[str]
    valid_ids: list[str]
    valid_from: str


def write_split(run_dir: str | Path, split: RunSplit) -> Path:
    """Write RUN/split.json atomically (a temporary file renamed over it)."""
    if split.valid_from not in ("folder", "fraction"):
        raise ValueError(f"valid_from must be 'folder' or 'fraction', got {split.valid_from!r}")
    path = Path(run_dir) / SPLIT_FILE
    tmp = path.with_name(f".{SPLIT_FILE}.tmp-{os.getpid()}")
    record = {"valid_from": split.valid_from, "valid_ids": list(split.valid_ids),
              "train_ids": list(split.train_ids)}  # fmt: skip
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return path


def read_split(run_dir: str | Path) -> RunSplit | None:
    """RUN/split.json, or None for a run folder written before the split was recorded."""
    path = Path(run_dir) / SPLIT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        ids = [[str(i) for i in record[key]] for key in ("train_ids", "valid_ids")]
        split = RunSplit(*ids, str(record["valid_from"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: unreadable split record ({err})") from None
    if split.valid_from not in ("folder", "fraction"):
        raise CheckpointError(f"{path}: valid_from is {split.valid_from!r}, not folder/fraction")
    return split

"""Which latent dimensions carry which label, measured when training ends and kept in the run folder
(label_dims.json), so `swap` can pick a label's dimensions on any machine, without the training
feature cache."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from audiovae.models.subspaces import eta_squared
from audiovae.train.labels import factor_labels

LABEL_DIMS = "label_dims.json"


def label_eta_squared(
    encode: Callable[[np.ndarray], torch.Tensor],
    labels: dict[str, list],
    rows: np.ndarray,
    batch_size: int = 256,
) -> dict[str, list[float]]:
    """label -> per-dimension eta^2 of the posterior means `encode(rows)` (chunked), for every
    factor-like label (see factor_labels)."""
    names = factor_labels(labels, rows)
    if not names:
        return {}
    mu = np.concatenate(
        [
            encode(rows[start : start + batch_size]).float().cpu().numpy()
            for start in range(0, rows.size, batch_size)
        ]
    )
    return {
        name: [round(float(v), 6) for v in eta_squared(mu, [labels[name][int(i)] for i in rows])]
        for name in names
    }


def write_label_dims(run_dir: str | Path, entries: dict, clips: int) -> Path:
    """Atomically write {checkpoint name: {step, eta_squared}} to run_dir/label_dims.json."""
    path = Path(run_dir) / LABEL_DIMS
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"clips": clips, "checkpoints": entries}, indent=1))
    os.replace(tmp, path)
    return path

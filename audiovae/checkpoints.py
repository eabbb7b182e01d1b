"""Reading audiovae checkpoints: single safetensors files, tensors plus JSON metadata, no pickle.

The inference side (`AudioVAE.load`, `evaluate`) reads them through this module, without the
training package; `audiovae.train.checkpoint` writes them and re-exports the reader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from audiovae.errors import CheckpointError

FORMAT_VERSION = 1
META_KEY = "audiovae"


def load_checkpoint(
    path: str | Path, prefix: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors (optionally only those under `prefix.`, prefix removed) and metadata."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            raw_meta = (fh.metadata() or {}).get(META_KEY)
            keys = [k for k in fh.keys() if prefix is None or k.startswith(prefix + ".")]
            tensors = {k: fh.get_tensor(k) for k in keys}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    if raw_meta is None:
        raise CheckpointError(f"{path}: no audiovae metadata (not written by audiovae?)")
    try:
        meta = json.loads(raw_meta)
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: corrupt metadata") from None
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version}, this audiovae reads format {FORMAT_VERSION}"
        )
    if prefix is not None:
        tensors = {k[len(prefix) + 1 :]: v for k, v in tensors.items()}
    return tensors, meta

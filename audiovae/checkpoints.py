"""Reading audiovae checkpoints: single safetensors files, tensors plus JSON metadata, no pickle.

The metadata holds a SHA-256 of every tensor, checked when the tensor is read, so a damaged file is
refused instead of loaded. The inference side (`AudioVAE.load`, `evaluate`) reads checkpoints
through this module, without the training package; `audiovae.train.checkpoint` writes them and
re-exports the reader.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from audiovae.errors import CheckpointError

FORMAT_VERSION = 1
META_KEY = "audiovae"
CHECKSUMS = "tensor_sha256"  # {tensor name: hex digest}; absent in files written before it


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes (what a reader must get back bit for bit)."""
    t = tensor.detach().to("cpu").contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON metadata of a checkpoint, without reading its tensors (CheckpointError if the
    file is missing or its header is unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            raw_meta = (fh.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    return _parse_meta(path, raw_meta)


def _parse_meta(path: Path, raw_meta: str | None) -> dict[str, Any]:
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
    return meta


def load_checkpoint(
    path: str | Path, prefix: str | None = None, *, verify: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors (optionally only those under `prefix.`, prefix removed) and metadata; each
    tensor read is checked against the checksum stored with it (`verify`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            raw_meta = (fh.metadata() or {}).get(META_KEY)
            keys = [k for k in fh.keys() if prefix is None or k.startswith(prefix + ".")]
            tensors = {k: fh.get_tensor(k) for k in keys}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    meta = _parse_meta(path, raw_meta)
    checksums = meta.pop(CHECKSUMS, None)
    if verify and checksums is not None:
        bad = [k for k, v in tensors.items() if checksums.get(k) != tensor_digest(v)]
        if bad:
            raise CheckpointError(
                f"{path}: damaged: {len(bad)} tensor(s) do not match their checksum ({bad[0]}...)"
            )
    if prefix is not None:
        tensors = {k[len(prefix) + 1 :]: v for k, v in tensors.items()}
    return tensors, meta

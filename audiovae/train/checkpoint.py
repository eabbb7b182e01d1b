"""Checkpoints as single safetensors files: tensors plus JSON metadata, no pickle anywhere.

A file is written to a temporary name, fsynced and renamed over the old one, so a killed process
leaves either the previous checkpoint or the new one, never half of each; the file it replaces can
be kept under a second name (the trainer keeps its previous resumable checkpoint that way). The
metadata holds a SHA-256 of every tensor, checked when the tensor is read, so a damaged file is
refused instead of loaded. A write that fails (disk full, no permission) removes its temporary
file, leaves the files already there untouched and raises CheckpointWriteError. Optimiser state is
split into its tensors (stored as tensors) and the rest (stored as JSON), so loading never runs
code.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from audiovae.errors import CheckpointError, CheckpointWriteError

FORMAT_VERSION = 1
META_KEY = "audiovae"
CHECKSUMS = "tensor_sha256"  # {tensor name: hex digest}; absent in files written before it


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes (what a reader must get back bit for bit)."""
    t = tensor.detach().to("cpu").contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def save_checkpoint(
    path: str | Path,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    keep_previous: str | Path | None = None,
) -> Path:
    """Atomically write `tensors` and JSON-able `meta` (with a checksum per tensor) to `path`.

    With `keep_previous`, the file `path` held until now is kept under that name (the new file
    only replaces it once it is complete and on disk). On failure the temporary file is removed,
    `path` and `keep_previous` are as they were, and CheckpointWriteError says why."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    prev_tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
        meta = {
            "format_version": FORMAT_VERSION,
            **meta,
            CHECKSUMS: {k: tensor_digest(v) for k, v in payload.items()},
        }
        save_file(payload, str(tmp), metadata={META_KEY: json.dumps(meta)})
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if keep_previous is not None and path.is_file():
            keep_previous = Path(keep_previous)
            prev_tmp = keep_previous.with_name(f".{keep_previous.name}.tmp-{os.getpid()}")
            _link_or_copy(path, prev_tmp)
            os.replace(prev_tmp, keep_previous)
            prev_tmp = None
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except (OSError, SafetensorError) as exc:
        for leftover in (tmp, prev_tmp):
            if leftover is not None:
                Path(leftover).unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointWriteError(f"could not write {path}: {reason}") from None
    return path


def _link_or_copy(src: Path, dst: Path) -> None:
    """A second name for `src` (a hard link: no copy, no extra space), or a copy where the
    file system has no hard links."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        import shutil

        shutil.copyfile(src, dst)
        with open(dst, "rb") as fh:
            os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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


def optimizer_state_to_tensors(
    state: dict[str, Any], prefix: str = "optim"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into tensors and JSON (param groups, non-tensor values)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_state_from_tensors(
    tensors: dict[str, torch.Tensor], info: dict[str, Any], prefix: str = "optim"
) -> dict[str, Any]:
    """Inverse of `optimizer_state_to_tensors`, ready for `optimizer.load_state_dict`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        pid, key = name[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    for pid, values in info.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    groups = []
    for group in info["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}

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
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from audiovae.checkpoints import (
    CHECKSUMS,
    FORMAT_VERSION,
    META_KEY,
    load_checkpoint,
    read_metadata,
    tensor_digest,
)
from audiovae.errors import CheckpointWriteError

__all__ = [
    "CHECKSUMS",
    "FORMAT_VERSION",
    "META_KEY",
    "load_checkpoint",
    "optimizer_state_from_tensors",
    "optimizer_state_to_tensors",
    "read_metadata",
    "save_checkpoint",
    "tensor_digest",
]


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

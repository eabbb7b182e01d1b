"""Checkpoints as single safetensors files: tensors plus JSON metadata, no pickle anywhere.

A file is written to a temporary name, fsynced and renamed over the old one, so a killed process
leaves either the previous checkpoint or the new one, never half of each. Optimiser state is split
into its tensors (stored as tensors) and the rest (stored as JSON), so loading never runs code.
Reading lives in `audiovae.checkpoints` (the inference side reads checkpoints without this
package); it is re-exported here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from audiovae.checkpoints import FORMAT_VERSION, META_KEY, load_checkpoint

__all__ = [
    "FORMAT_VERSION",
    "META_KEY",
    "load_checkpoint",
    "optimizer_state_from_tensors",
    "optimizer_state_to_tensors",
    "save_checkpoint",
]


def save_checkpoint(
    path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """Atomically write `tensors` and JSON-able `meta` to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    payload = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    meta = {"format_version": FORMAT_VERSION, **meta}
    save_file(payload, str(tmp), metadata={META_KEY: json.dumps(meta)})
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


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

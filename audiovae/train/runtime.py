"""Device, precision and thread choices for a run, made once and explicitly."""

from __future__ import annotations

import os

import torch

from audiovae.errors import RecipeError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` -> cuda, else mps, else cpu; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RecipeError(
            f"train.device: {name!r} is not a device (auto, cpu, cuda, cuda:1, mps)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(
            f"train.device is {name!r} but CUDA is not available here; use auto or cpu"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RecipeError(
            f"train.device is {name!r} but MPS is not available here; use auto or cpu"
        )
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA by default (`auto`); fp32 elsewhere unless asked for."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity masks and containers' cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def set_threads(num_threads: int | None) -> int:
    """Set torch's intra-op threads deliberately (default: one per available core)."""
    n = num_threads or available_cores()
    torch.set_num_threads(n)
    return n

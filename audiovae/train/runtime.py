"""Device, precision and thread choices for a run, made once and explicitly."""

from __future__ import annotations

import os

import torch

from audiovae import devices
from audiovae.errors import RecipeError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` -> cuda, else mps, else cpu; an explicit name must be available (errors name
    `train.device`)."""
    return devices.resolve_device(name, setting="train.device", error=RecipeError)


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


def set_threads(num_threads: int | None, processes_per_node: int = 1) -> int:
    """Set torch's intra-op threads deliberately: `num_threads` if given, else OMP_NUM_THREADS
    if set (what a sweep with --jobs or a launcher hands each process), else the available cores
    shared among the node's processes."""
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    if num_threads:
        n = num_threads
    elif from_env.isdigit() and int(from_env) > 0:
        n = int(from_env)
    else:
        n = max(1, available_cores() // max(1, processes_per_node))
    torch.set_num_threads(n)
    return n


class StepBoundaryInterrupt:
    """Turn the first Ctrl-C (SIGINT) into a request that the loop honours between steps, so the
    checkpoint it then writes never holds a half-applied step; a second Ctrl-C stops at once.
    Does nothing outside the main thread (signal handlers live there)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> StepBoundaryInterrupt:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        import signal

        if self.requested:  # second Ctrl-C: the default behaviour, now
            signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

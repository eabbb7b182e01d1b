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


# what a stop request is, as the code every rank agrees on (the highest wins)
NO_STOP, STOP_INTERRUPT, STOP_SIGNAL = 0, 1, 2


class StepBoundaryInterrupt:
    """Turn Ctrl-C (SIGINT), SIGTERM and SIGUSR1 into a request that the loop honours between
    steps, so the checkpoint it then writes never holds a half-applied step. SIGTERM is how
    schedulers, containers, systemd and `timeout` ask a job to stop, SIGUSR1 what Slurm sends
    ahead of a time limit (`--signal`). A second Ctrl-C stops at once (unless
    `hard_second_ctrl_c` is off: under torchrun the launcher forwards the terminal's Ctrl-C);
    repeated SIGTERM / SIGUSR1 are ignored (a launcher forwarding the signal must not break the
    clean stop). Does nothing outside the main thread (signal handlers live there)."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGUSR1")

    def __init__(self, hard_second_ctrl_c: bool = True) -> None:
        self.hard_second_ctrl_c = hard_second_ctrl_c
        self.code = NO_STOP
        self.signal_name: str | None = None
        self._ctrl_c = False
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.code != NO_STOP

    def __enter__(self) -> StepBoundaryInterrupt:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                signum = getattr(signal, name, None)
                if signum is not None:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        import signal

        code = STOP_SIGNAL
        if signum == signal.SIGINT:
            if self._ctrl_c and self.hard_second_ctrl_c:  # second Ctrl-C: stop now
                previous = self._previous.get(signum)
                signal.signal(signal.SIGINT, previous or signal.default_int_handler)
                raise KeyboardInterrupt
            self._ctrl_c, code = True, STOP_INTERRUPT
        if code > self.code:
            self.code, self.signal_name = code, signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        import signal

        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

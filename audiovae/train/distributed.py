"""Data-parallel training under `torchrun`: who this process is, and the few collectives we need.

torchrun (PyTorch's launcher) sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE; without them
the run is a single process and nothing here does anything. Each step's global batch (a pure
function of seed and step, see Trainer.batch_indices) is cut into equal contiguous slices, one per
rank: the role a DistributedSampler plays, kept step-exact so that resume works across world sizes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from audiovae.errors import AudioVAEError, RecipeError


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job (rank 0 of 1 when not launched by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        """More than one process: collectives are needed."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run folder: logs, checkpoints, plots."""
        return self.rank == 0


def context_from_env(environ: dict[str, str] | None = None) -> DistributedContext:
    """Read torchrun's environment variables; a clear error when they are malformed."""
    env = os.environ if environ is None else environ
    values = {}
    for key, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)):
        raw = env.get(key)
        try:
            values[key] = default if raw is None else int(raw)
        except ValueError:
            raise AudioVAEError(f"environment {key}={raw!r}: expected an integer") from None
    local_world = int(env.get("LOCAL_WORLD_SIZE", values["WORLD_SIZE"]) or 1)
    ctx = DistributedContext(
        values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], local_world
    )
    if not 0 <= ctx.rank < max(1, ctx.world_size):
        raise AudioVAEError(f"RANK={ctx.rank} is outside WORLD_SIZE={ctx.world_size}")
    return ctx


def rank_device(ctx: DistributedContext, device: torch.device) -> torch.device:
    """One GPU per process: CUDA rank r on the node uses cuda:LOCAL_RANK."""
    if ctx.enabled and device.type == "cuda":
        if device.index is not None and ctx.local_world_size > 1:
            raise RecipeError(
                f"train.device={device} would put all {ctx.local_world_size} processes of a node "
                "on one GPU; use train.device=cuda (each process takes cuda:LOCAL_RANK)"
            )
        return torch.device("cuda", ctx.local_rank)
    return device


def init_process_group(ctx: DistributedContext, device: torch.device) -> None:
    """Join the job's process group (NCCL on CUDA, gloo on CPU); rendezvous from torchrun's env."""
    if not ctx.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))


def shutdown(ctx: DistributedContext) -> None:
    """Leave the process group (the launcher then ends the job cleanly)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (no-op for a single process)."""
    if ctx.enabled:
        dist.barrier()


def check_divisible(batch_size: int, ctx: DistributedContext) -> int:
    """The per-rank batch size; the global batch must split evenly so that every rank's mean
    loss weighs the same and averaged gradients equal the single-process ones."""
    if batch_size % ctx.world_size:
        raise RecipeError(
            f"train.batch_size={batch_size} does not split over {ctx.world_size} processes; "
            "use a multiple of the world size"
        )
    return batch_size // ctx.world_size


def shard(indices: np.ndarray, ctx: DistributedContext) -> np.ndarray:
    """This rank's contiguous slice of a global batch of indices."""
    if not ctx.enabled:
        return indices
    per_rank = len(indices) // ctx.world_size
    return indices[ctx.rank * per_rank : (ctx.rank + 1) * per_rank]


def average_gradients(params: list[torch.nn.Parameter], ctx: DistributedContext) -> None:
    """Average .grad over ranks (for the auxiliary discriminators that DDP does not wrap)."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_over_ranks(values: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """Element-wise mean of a tensor over ranks (logged terms); the tensor itself if single."""
    if not ctx.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / ctx.world_size


def any_rank(flag: bool, ctx: DistributedContext, device: torch.device) -> bool:
    """True on every rank when `flag` is true on at least one (e.g. a non-finite loss)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


class StopAgreement:
    """Every rank stops at the same step: each step boundary, the ranks' stop requests (0 none,
    higher codes win) are combined by a MAX all-reduce on a small CPU (gloo) group of their own.

    The reduction is started at one boundary and read at the next, so it never waits on the
    devices (no host sync per step) and costs one tiny message per step; every rank reads the
    same value at the same step, so a signal that reaches the ranks at different moments (or
    only one of them) stops them all together one or two steps later. A single process needs
    no agreement: its own request is the answer at once."""

    def __init__(self, ctx: DistributedContext) -> None:
        self.ctx = ctx
        self._group = dist.new_group(backend="gloo") if ctx.enabled else None
        self._pending: tuple[object, torch.Tensor] | None = None

    def __call__(self, local_code: int) -> int:
        """The agreed stop code at this boundary (0: go on)."""
        if not self.ctx.enabled:
            return local_code
        agreed = self.finish()
        flag = torch.tensor([local_code], dtype=torch.int32)
        work = dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group, async_op=True)
        self._pending = (work, flag)
        return agreed

    def finish(self) -> int:
        """Wait for the reduction in flight (every rank must call this as often as the others)
        and return its value."""
        if self._pending is None:
            return 0
        work, flag = self._pending
        self._pending = None
        work.wait()
        return int(flag.item())

"""Gaussian noise that does not depend on how a batch is split across processes.

Under data parallelism each rank holds a slice of the global batch. If every rank drew noise for
its own slice from the same seeded generator, the ranks would share noise and a 2-process run
would differ from a 1-process run with the same global batch. Inside `batch_shard(rank, world)`
every draw is made for the whole global batch and the rank keeps its own rows, so the noise each
example sees is the same for every world size (and resume stays exact). Objectives that estimate
over the batch use `current_shard` and `gather_batch` to see the global batch as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

_SHARD: ContextVar[tuple[int, int] | None] = ContextVar("audiovae_batch_shard", default=None)


@contextmanager
def batch_shard(rank: int, world_size: int) -> Iterator[None]:
    """Within this block, tensors' batch axis (-2) is rank `rank`'s slice of `world_size`."""
    token = _SHARD.set((rank, world_size) if world_size > 1 else None)
    try:
        yield
    finally:
        _SHARD.reset(token)


def current_shard() -> tuple[int, int] | None:
    """(rank, world_size) of the enclosing `batch_shard` when world_size > 1, else None."""
    return _SHARD.get()


def gather_batch(t: torch.Tensor) -> torch.Tensor:
    """The global batch of a tensor whose axis -2 is this rank's slice (see batch_shard): every
    rank's slice concatenated in rank order, gradients flowing back to each rank's own slice
    (`torch.distributed.nn.functional.all_gather`). `t` itself outside a shard. Every rank must
    call it (a collective)."""
    shard = _SHARD.get()
    if shard is None:
        return t
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() != shard[1]:
        raise RuntimeError(
            f"gather_batch inside batch_shard{shard} needs torch.distributed initialised with "
            f"world size {shard[1]}"
        )
    from torch.distributed.nn.functional import all_gather

    if t.dim() < 2:
        raise ValueError(f"gather_batch needs a batch axis [..., batch, dims]; got {t.shape}")
    return torch.cat(all_gather(t.contiguous()), dim=-2)


def _sharded_draw(
    draw, shape: tuple[int, ...], device: torch.device, whole_batch: bool = False
) -> torch.Tensor:
    """`draw(shape)` for this rank's rows of axis -2 of the global batch (see batch_shard), or,
    with `whole_batch`, `draw(shape)` of a `shape` that already is the global batch."""
    shard = _SHARD.get()
    if shard is None or whole_batch:
        return draw(shape).to(device)
    if len(shape) < 2:
        raise ValueError(f"a sharded draw needs a batch axis [..., batch, dims]; got shape {shape}")
    rank, world = shard
    full = shape[:-2] + (shape[-2] * world, shape[-1])
    return draw(full).narrow(-2, rank * shape[-2], shape[-2]).to(device)


def standard_uniform(
    shape: torch.Size | tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device,
    *,
    whole_batch: bool = False,
) -> torch.Tensor:
    """U[0, 1) noise of `shape` ([..., batch, dims]) from `generator`, sharded as
    `standard_normal` (so the generator advances alike at every world size). With `whole_batch`,
    `shape` is the global batch and all of it is returned, the same draw as sharded ranks make."""
    draw_on = generator.device if generator is not None else device
    return _sharded_draw(
        lambda s: torch.rand(s, generator=generator, device=draw_on),
        tuple(shape),
        device,
        whole_batch,
    )


def standard_normal(
    shape: torch.Size | tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """N(0, I) noise of `shape` ([..., batch, latent]) from `generator`, drawn on the generator's
    device (then moved), and sharded as the enclosing `batch_shard` says."""
    draw_on = generator.device if generator is not None else device
    return _sharded_draw(
        lambda s: torch.randn(s, generator=generator, device=draw_on, dtype=dtype),
        tuple(shape),
        device,
    )

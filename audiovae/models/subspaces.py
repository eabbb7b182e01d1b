"""Named latent sub-spaces: z as the concatenation of blocks (e.g. pitch then timbre), and the
per-dimension eta squared that says how much of each latent dimension a label explains."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch


def block_slices(sizes: Mapping[str, int]) -> dict[str, slice]:
    """Block name -> its slice of z, blocks laid out in the order given (e.g. {pitch: 8,
    timbre: 24} -> pitch = z[:, 0:8], timbre = z[:, 8:32])."""
    out: dict[str, slice] = {}
    start = 0
    for name, size in sizes.items():
        out[name] = slice(start, start + int(size))
        start += int(size)
    return out


def _slice_of(slices: Mapping[str, slice], name: str) -> slice:
    if name not in slices:
        known = ", ".join(slices) or "none: this model has no sub-spaces"
        raise ValueError(f"no latent sub-space {name!r}; this model's sub-spaces: {known}")
    return slices[name]


def get_block(z: torch.Tensor, slices: Mapping[str, slice], name: str) -> torch.Tensor:
    """Block `name` of latents z [..., latent_dim] (a view)."""
    return z[..., _slice_of(slices, name)]


def set_block(
    z: torch.Tensor, slices: Mapping[str, slice], name: str, value: torch.Tensor
) -> torch.Tensor:
    """A copy of z with block `name` replaced by `value` (broadcast to the block's shape)."""
    sl = _slice_of(slices, name)
    value = torch.as_tensor(value, dtype=z.dtype, device=z.device)
    width = sl.stop - sl.start
    if value.shape[-1:] != (width,) and value.dim() > 0:
        raise ValueError(
            f"sub-space {name!r} has {width} dimensions; got a value of shape {tuple(value.shape)}"
        )
    out = z.clone()
    out[..., sl] = value
    return out


def eta_squared(mu: np.ndarray, labels: np.ndarray | list) -> np.ndarray:
    """Per latent dimension, the share of its variance explained by the label (the correlation
    ratio eta^2 = variance of the class means / total variance), in [0, 1]; [latent_dim]."""
    mu = np.asarray(mu, dtype=float)
    labels = np.asarray([str(v) for v in labels])
    total = mu.var(axis=0) + 1e-12
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=classes.size).astype(float)
    sums = np.zeros((classes.size, mu.shape[1]))
    np.add.at(sums, inverse, mu)
    means = sums / counts[:, None]
    weights = (counts / counts.sum())[:, None]
    between = (weights * (means - mu.mean(axis=0)) ** 2).sum(axis=0)
    return between / total

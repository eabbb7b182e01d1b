"""Latent arithmetic for generation: interpolation paths, traversal grids, prior samples, swaps."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from audiovae.objectives.kl import COLLAPSED_KL


def interpolate(
    z_a: torch.Tensor, z_b: torch.Tensor, steps: int, path: Literal["linear", "slerp"] = "linear"
) -> torch.Tensor:
    """`steps` latents [steps, D] from z_a to z_b inclusive.

    `slerp` follows the great circle (White 2016, "Sampling generative networks"), keeping the norm
    typical of prior samples in high dimensions; nearly parallel vectors fall back to linear.
    """
    if steps < 2:
        raise ValueError(f"a morph needs at least 2 steps, got {steps}")
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype, device=z_a.device)[:, None]
    if path == "linear":
        return (1 - t) * z_a + t * z_b
    if path != "slerp":
        raise ValueError(f"path must be linear or slerp, got {path!r}")
    cos = torch.dot(z_a, z_b) / (z_a.norm() * z_b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if float(torch.sin(omega)) < 1e-6:
        return (1 - t) * z_a + t * z_b
    return (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)


def kl_order(kl_per_dim: np.ndarray | list[float]) -> tuple[list[int], list[bool]]:
    """Dimensions sorted by KL, most informative first, and whether each (in that order) is
    collapsed (KL < COLLAPSED_KL nats: it decodes to the same sound whatever its value)."""
    kl = np.asarray(kl_per_dim, dtype=float)
    order = [int(i) for i in np.argsort(-kl, kind="stable")]
    return order, [bool(kl[i] < COLLAPSED_KL) for i in order]


def traversal_grid(center: torch.Tensor, dims: list[int], values: torch.Tensor) -> torch.Tensor:
    """Latents [len(dims), len(values), D]: `center` with dimension dims[r] set to values[c]."""
    grid = center.expand(len(dims), len(values), center.shape[-1]).clone()
    for r, d in enumerate(dims):
        grid[r, :, d] = values
    return grid


def sample_prior(n: int, latent_dim: int, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
    """n draws [n, D] from N(0, temperature^2 I): temperature < 1 trades variety for typicality."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    gen = torch.Generator().manual_seed(seed)
    return temperature * torch.randn(n, latent_dim, generator=gen)


def factor_dims(mu: np.ndarray, labels: np.ndarray, k: int | None = None) -> list[int]:
    """Dimensions ordered by how much of their variance a factor explains (eta squared: variance
    of the class means over total variance), best first; the first k if given."""
    mu = np.asarray(mu, dtype=float)
    labels = np.asarray(labels)
    total = mu.var(axis=0) + 1e-12
    classes = np.unique(labels)
    means = np.stack([mu[labels == c].mean(axis=0) for c in classes])
    weights = np.array([(labels == c).mean() for c in classes])[:, None]
    between = (weights * (means - mu.mean(axis=0)) ** 2).sum(axis=0)
    order = [int(i) for i in np.argsort(-(between / total), kind="stable")]
    return order[:k] if k else order


def swap(z_a: torch.Tensor, z_b: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """z_a with the dimensions `dims` taken from z_b."""
    out = z_a.clone()
    out[..., dims] = z_b[..., dims]
    return out

"""Per-mel-band standardisation of log-mels, with statistics fitted on the training set."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def mel_band_statistics(
    features: np.ndarray, indices: np.ndarray, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each mel band over the clips `indices` of [N, mels, frames].

    Accumulates in float64 over chunks, so it works on a memory-mapped cache of any size.
    """
    indices = np.sort(np.asarray(indices))
    if indices.size == 0:
        raise ValueError("cannot compute statistics over an empty set of clips")
    n_mels = features.shape[1]
    total = np.zeros(n_mels)
    total_sq = np.zeros(n_mels)
    count = 0
    for start in range(0, indices.size, chunk):
        block = np.asarray(features[indices[start : start + chunk]], dtype=np.float64)
        total += block.sum(axis=(0, 2))
        total_sq += (block * block).sum(axis=(0, 2))
        count += block.shape[0] * block.shape[2]
    mean = total / count
    var = np.maximum(total_sq / count - mean * mean, 0.0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


class MelNormalizer(nn.Module):
    """(log-mel - mean) / std per band; saved with the model so inference needs no data."""

    def __init__(self, n_mels: int, min_std: float = 1e-3) -> None:
        super().__init__()
        self.min_std = float(min_std)
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))

    def set_statistics(
        self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor
    ) -> None:
        """Store band means and standard deviations (std is floored at `min_std`)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(self.min_std))

    def normalize(self, logmel: torch.Tensor) -> torch.Tensor:
        """[..., mels, frames] log-mel -> standardised."""
        return (logmel - self.mean[:, None]) / self.std[:, None]

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Inverse of `normalize`."""
        return z * self.std[:, None] + self.mean[:, None]

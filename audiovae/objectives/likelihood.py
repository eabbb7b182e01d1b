"""Reconstruction likelihoods p(x|z) over normalised log-mel elements, as per-example NLL sums."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

LikelihoodName = Literal["gaussian", "gaussian_learned", "laplace"]
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class ReconstructionLikelihood(nn.Module):
    """Negative log-likelihood of x under a factorised distribution centred on the decoder output.

    - `gaussian`: N(x_hat, scale^2) with a fixed scale.
    - `gaussian_learned`: N(x_hat, sigma_m^2) with one learned log-sigma per mel band, initialised
      at log(scale) (a learned variance balances reconstruction against KL by itself; Rybkin et al.
      2021, "Simple and effective VAE training with calibrated decoders").
    - `laplace`: Laplace(x_hat, scale) with a fixed scale (L1 reconstruction).

    NLLs include their normalising constants, so they are true -log p(x|z) in nats.
    """

    def __init__(self, kind: LikelihoodName, n_mels: int, scale: float = 1.0) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"likelihood scale must be positive, got {scale}")
        if kind not in ("gaussian", "gaussian_learned", "laplace"):
            raise ValueError(f"unknown likelihood {kind!r}")
        self.kind = kind
        log_scale = torch.full((n_mels,), math.log(scale))
        if kind == "gaussian_learned":
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def nll(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-example NLL [batch]: the sum over every element of [batch, mels, frames]."""
        log_s = self.log_scale.to(x_hat.dtype)[:, None]
        if self.kind == "laplace":
            per_elem = (x - x_hat).abs() * torch.exp(-log_s) + log_s + math.log(2.0)
        else:
            per_elem = 0.5 * ((x - x_hat) * torch.exp(-log_s)).pow(2) + log_s + _HALF_LOG_2PI
        return per_elem.flatten(1).sum(dim=1)

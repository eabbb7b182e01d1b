"""Closed-form KL divergence between a diagonal Gaussian posterior and the standard normal prior."""

from __future__ import annotations

import torch

COLLAPSED_KL = 0.05  # nats: a dimension whose mean KL is below this carries (almost) nothing;
# the one threshold for the trainer's active_dims, `traverse` and the report


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per dimension, same shape as `mu`.

    0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)  (Kingma and Welling 2014, appendix B).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)

"""Ada-ML-VAE: Ada-GVAE with the multi-level VAE's aggregate (Locatello et al. 2020, ICML,
"Weakly-Supervised Disentanglement Without Compromises"; the aggregate from Bouchacourt, Tomioka
and Nowozin 2018, "Multi-Level Variational Autoencoder", AAAI).

On the dims a pair shares, both posteriors become the normalised product of the two Gaussians'
square roots, sqrt(q1 * q2) / Z: a Gaussian whose precision is the MEAN of the two precisions,
1 / var = (1 / var1 + 1 / var2) / 2, and whose mean is the precision-weighted mean,
mu = var * (mu1 / var1 + mu2 / var2) / 2. That is disentanglement_lib's `MLVae` (variance
2 var1 var2 / (var1 + var2)); the plain product q1 * q2 would sum the precisions and so halve the
variance of a pair of equal posteriors. Threshold, loss and beta normalisation (per-example sums,
averaged over the 2P notes) are Ada-GVAE's: see ada_gvae.py.
"""

from __future__ import annotations

import torch

from audiovae.objectives import register_objective
from audiovae.objectives.ada_gvae import AdaGVAE, AdaGVAEConfig


def product_aggregate(
    mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """ML-VAE aggregate in precision space: mean precision, precision-weighted mean."""
    p1, p2 = (-logvar1).exp(), (-logvar2).exp()
    precision = 0.5 * (p1 + p2)
    mu = 0.5 * (mu1 * p1 + mu2 * p2) / precision
    return mu, -precision.log()


class AdaMLVAEConfig(AdaGVAEConfig):
    """Recipe section `objective` for `name: ada_ml_vae`."""

    name: str = "ada_ml_vae"


@register_objective("ada_ml_vae")
class AdaMLVAE(AdaGVAE):
    """Ada-GVAE whose shared dims take the ML-VAE aggregate (see the module docstring)."""

    Config = AdaMLVAEConfig

    def aggregate(
        self, mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return product_aggregate(mu1, logvar1, mu2, logvar2)

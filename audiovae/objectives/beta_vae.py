"""beta-VAE: reconstruction NLL + beta * KL(q(z|x) || N(0, I)) (Higgins et al. 2017, ICLR).

Normalisation of beta: both terms are SUMS per example (the NLL over every mel x frame element, the
KL over latent dimensions), then averaged over the batch. So beta = 1 is the true ELBO, whatever the
input size. Libraries that average the reconstruction over elements instead use a "normalised"
beta_norm = beta * latent_dim / (n_mels * frames) (Higgins et al.'s beta_norm); convert before
comparing numbers.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from audiovae.objectives import register_objective
from audiovae.objectives.base import (
    ObjectiveOutput,
    ReconstructionConfig,
    ReconstructionObjective,
)
from audiovae.objectives.kl import gaussian_kl


class BetaVAEConfig(ReconstructionConfig):
    """Recipe section `objective` for `name: beta_vae`."""

    name: str = "beta_vae"
    beta: float = Field(1.0, ge=0, description="weight of the KL term (per-example sums)")


@register_objective("beta_vae")
class BetaVAE(ReconstructionObjective):
    """Reconstruction + beta * KL, both summed per example and averaged over the batch."""

    Config = BetaVAEConfig

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        step: int,
        generator: torch.Generator | None = None,
    ) -> ObjectiveOutput:
        p = self.posterior_pass(model, x, generator)
        mu, logvar, x_hat, recon = p.mu, p.logvar, p.x_hat, p.recon
        kl_dims = gaussian_kl(mu.float(), logvar.float())
        kl = kl_dims.sum(dim=1).mean()
        loss = recon + self.config.beta * kl
        terms = {
            "loss": loss,
            "recon": recon,
            "kl": kl,
            "mse": (x_hat - x).pow(2).mean(),
        }
        return ObjectiveOutput(loss, terms, kl_dims.mean(dim=0))

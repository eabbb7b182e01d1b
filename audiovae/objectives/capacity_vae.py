"""beta-VAE with a controlled capacity: reconstruction NLL + gamma * |KL - C(step)|.

Burgess et al. 2018, "Understanding disentangling in beta-VAE" (arXiv:1804.03599), Sec. 5, eq. 8:
the KL of each example is pulled towards a target C, raised linearly from `c_start` to `c_max`
nats over `c_steps` optimiser steps and then held, so the code gains information gradually and the
factors that explain the most reconstruction claim it first.

Normalisation: as in beta_vae, the NLL and the KL are SUMS per example (over every mel x frame
element, over latent dimensions) and the penalty |KL - C| is taken per example, as eq. 8 writes it
for one x, then averaged over the batch. C is a pure function of the step, so resume is exact
without any stored state. With c_max = 0 the loss is beta-VAE's with beta = gamma.

gamma must exceed the marginal reconstruction gain of one more nat of KL, or the KL overshoots C;
that gain grows as the likelihood sharpens (1 / scale^2 per element for the Gaussian), so gamma
and `scale` go together.
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


class CapacityVAEConfig(ReconstructionConfig):
    """Recipe section `objective` for `name: capacity_vae`."""

    name: str = "capacity_vae"
    gamma: float = Field(1000.0, ge=0, description="weight of |KL - C| (per-example sums)")
    c_max: float = Field(25.0, ge=0, description="capacity in nats reached after c_steps")
    c_start: float = Field(0.0, ge=0, description="capacity in nats at step 0")
    c_steps: int = Field(2000, ge=0, description="steps of the linear ramp (0: c_max at once)")


def capacity_at(step: int, c_start: float, c_max: float, c_steps: int) -> float:
    """C(step) in nats: linear from c_start at step 0 to c_max at c_steps, then held (Burgess et
    al. 2018, Sec. 5)."""
    if c_steps <= 0 or step >= c_steps:
        return float(c_max)
    return float(c_start + (c_max - c_start) * max(step, 0) / c_steps)


@register_objective("capacity_vae")
class CapacityVAE(ReconstructionObjective):
    """Reconstruction + gamma * |KL - C(step)|, per-example sums averaged over the batch."""

    Config = CapacityVAEConfig

    def capacity(self, step: int) -> float:
        """The target KL in nats at `step`."""
        c = self.config
        return capacity_at(step, c.c_start, c.c_max, c.c_steps)

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
        kl_each = kl_dims.sum(dim=1)
        c = self.capacity(step)
        gap = (kl_each - c).abs().mean()
        loss = recon + self.config.gamma * gap
        terms = {
            "loss": loss,
            "recon": recon,
            "kl": kl_each.mean(),
            "capacity": torch.tensor(c, device=recon.device),
            "kl_gap": gap,
            "mse": (x_hat - x).pow(2).mean(),
        }
        return ObjectiveOutput(loss, terms, kl_dims.mean(dim=0))

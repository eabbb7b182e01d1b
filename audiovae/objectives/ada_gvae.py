"""Ada-GVAE: a beta-VAE trained on pairs of notes that share an unknown subset of factors
(Locatello, Poole, Raetsch, Schoelkopf, Bachem and Tschannen 2020, "Weakly-Supervised
Disentanglement Without Compromises", ICML, section 4.1).

For each pair (x1, x2) the encoder gives q(z|x1) and q(z|x2). Per latent dim i,
delta_i = KL(q(z_i|x1) || q(z_i|x2)) (or its symmetric mean with `divergence: symmetric_kl`);
the dims with delta_i < tau = (min_i delta_i + max_i delta_i) / 2, the adaptive threshold, are
taken as shared and both posteriors replaced there by one aggregate. Ada-GVAE's aggregate is the
average of the two (Hosoya 2019, group VAE): mean (mu1 + mu2) / 2, variance (var1 + var2) / 2,
averaged in variance space. A pair whose deltas are all equal has no dim below tau: none shared.
The objective never sees which labels a pair shares, only that its two notes are partners.

Loss: both notes are decoded from a sample of their (partly aggregated) posteriors,
recon(x1) + recon(x2) + beta * [KL(q~(z|x1) || N(0, I)) + KL(q~(z|x2) || N(0, I))], each term a
per-example SUM (over mel x frame elements, over latent dims) and the whole averaged over the 2P
notes of the batch: the same normalisation as beta_vae, so beta = 1 is the ELBO of the aggregated
posteriors (disentanglement_lib's 0.5 * loss(x1) + 0.5 * loss(x2)). The trainer hands a paired
objective rows (2i, 2i + 1) as partners. Logged term `shared_dims`: mean shared dims per pair.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from audiovae.objectives import register_objective
from audiovae.objectives.base import ObjectiveOutput, ReconstructionConfig, ReconstructionObjective
from audiovae.objectives.kl import gaussian_kl


def pairwise_gaussian_kl(
    mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu1, var1) || N(mu2, var2)) per dimension (diagonal Gaussians), same shape as mu1."""
    return 0.5 * ((logvar1 - logvar2).exp() + (mu1 - mu2).pow(2) / logvar2.exp() - 1.0
                  + logvar2 - logvar1)  # fmt: skip


def adaptive_shared_mask(delta: torch.Tensor) -> torch.Tensor:
    """Dims taken as shared, per pair [pairs, dims]: delta below the pair's midpoint
    (min + max) / 2 (Locatello et al. 2020, section 4.1; two equal-width bins, lower one shared)."""
    tau = 0.5 * (delta.min(dim=1, keepdim=True).values + delta.max(dim=1, keepdim=True).values)
    return delta < tau


def group_average(
    mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ada-GVAE's aggregate: the mean of the means, and log of the mean of the variances."""
    var = 0.5 * (logvar1.exp() + logvar2.exp())
    return 0.5 * (mu1 + mu2), var.log()


class AdaGVAEConfig(ReconstructionConfig):
    """Recipe section `objective` for `name: ada_gvae`."""

    name: str = "ada_gvae"
    beta: float = Field(1.0, ge=0, description="weight of the KL term (per-example sums)")
    divergence: Literal["kl", "symmetric_kl"] = Field(
        "kl",
        description="per-dim distance of a pair's posteriors: KL(q1 || q2) as in the paper, or "
        "(KL(q1 || q2) + KL(q2 || q1)) / 2 (disent's default)",
    )


@register_objective("ada_gvae")
class AdaGVAE(ReconstructionObjective):
    """Adaptive group VAE on pairs (see the module docstring); subclasses change `aggregate`."""

    Config = AdaGVAEConfig
    paired: ClassVar[bool] = True

    def aggregate(
        self, mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The one posterior both notes of a pair take on their shared dims."""
        return group_average(mu1, logvar1, mu2, logvar2)

    def shared_posteriors(
        self, mu: torch.Tensor, logvar: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mu, logvar) with each pair's shared dims replaced by the aggregate, and the shared
        mask [pairs, dims]; rows (2i, 2i + 1) of `mu` / `logvar` are partners."""
        if mu.shape[0] % 2:
            raise ValueError(f"{self.name} needs whole pairs (rows 2i, 2i+1); got {mu.shape[0]}")
        mu1, mu2, lv1, lv2 = mu[0::2], mu[1::2], logvar[0::2], logvar[1::2]
        delta = pairwise_gaussian_kl(mu1, lv1, mu2, lv2)
        if self.config.divergence == "symmetric_kl":
            delta = 0.5 * (delta + pairwise_gaussian_kl(mu2, lv2, mu1, lv1))
        shared = adaptive_shared_mask(delta.detach())
        agg_mu, agg_lv = self.aggregate(mu1, lv1, mu2, lv2)
        new_mu = torch.stack(
            [torch.where(shared, agg_mu, mu1), torch.where(shared, agg_mu, mu2)], dim=1
        )
        new_lv = torch.stack(
            [torch.where(shared, agg_lv, lv1), torch.where(shared, agg_lv, lv2)], dim=1
        )
        return new_mu.flatten(0, 1), new_lv.flatten(0, 1), shared

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        step: int,
        generator: torch.Generator | None = None,
    ) -> ObjectiveOutput:
        mu, logvar = model.encode(x)
        mu, logvar, shared = self.shared_posteriors(mu.float(), logvar.float())
        z = model.reparameterize(mu, logvar, generator)
        x_hat = model.decode(z).float()
        recon = self.likelihood.nll(x_hat, x).mean()
        kl_dims = gaussian_kl(mu, logvar)
        kl = kl_dims.sum(dim=1).mean()
        loss = recon + self.config.beta * kl
        terms = {
            "loss": loss,
            "recon": recon,
            "kl": kl,
            "mse": (x_hat - x).pow(2).mean(),
            "shared_dims": shared.sum(dim=1).float().mean(),
        }
        return ObjectiveOutput(loss, terms, kl_dims.mean(dim=0))

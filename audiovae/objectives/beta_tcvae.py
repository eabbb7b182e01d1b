"""beta-TCVAE: reconstruction + alpha * MI + beta * TC + gamma * dimension-wise KL.

Chen et al. 2018, "Isolating sources of disentanglement in variational autoencoders" (NeurIPS),
Sec. 4: the KL of the ELBO split into index-code mutual information, total correlation and
dimension-wise KL (see `audiovae.objectives.tc`), each with its own weight; penalising the total
correlation alone (beta > 1, alpha = gamma = 1) is what encourages independent latents.

Normalisation: as in beta_vae, every term is a per-example SUM (the NLL over all mel x frame
elements, the three KL parts over latent dimensions), averaged over the batch; with
alpha = beta = gamma = 1 the loss is the negative ELBO up to the noise of a one-sample KL estimate.
q(z) is estimated from the minibatch with the training set size N (`dataset_size`); validation
batches reuse the training N, so their MI / TC are on the training scale. Under torchrun the
minibatch is the global batch: each process gathers every process's z, mu and logvar and
estimates its own examples' terms against all of them, so N processes follow one process.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from audiovae.models.noise import current_shard, gather_batch
from audiovae.objectives import register_objective
from audiovae.objectives.base import (
    ObjectiveOutput,
    ReconstructionConfig,
    ReconstructionObjective,
)
from audiovae.objectives.kl import gaussian_kl
from audiovae.objectives.tc import Estimator, decompose_kl


class BetaTCVAEConfig(ReconstructionConfig):
    """Recipe section `objective` for `name: beta_tcvae`."""

    name: str = "beta_tcvae"
    alpha: float = Field(1.0, ge=0, description="weight of the index-code mutual information")
    beta: float = Field(6.0, ge=0, description="weight of the total correlation")
    gamma: float = Field(1.0, ge=0, description="weight of the dimension-wise KL")
    estimator: Estimator = Field(
        "mss", description="log q(z) from the minibatch: mss (stratified) or mws (weighted)"
    )


@register_objective("beta_tcvae")
class BetaTCVAE(ReconstructionObjective):
    """Reconstruction + weighted MI, TC and dimension-wise KL, per-example sums, batch mean."""

    Config = BetaTCVAEConfig

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        step: int,
        generator: torch.Generator | None = None,
    ) -> ObjectiveOutput:
        p = self.posterior_pass(model, x, generator)
        mu, logvar, z, x_hat, recon = p.mu, p.logvar, p.z, p.x_hat, p.recon
        mu, logvar, z = mu.float(), logvar.float(), z.float()
        shard = current_shard()
        if shard is None:
            n = max(self.dataset_size, x.shape[0])  # a batch can never hold more clips than N
            parts = decompose_kl(z, mu, logvar, n, self.config.estimator)
        else:  # torchrun: this rank's examples, estimated with the global batch (exact DDP)
            rank, b = shard[0], z.shape[0]
            z_all, mu_all, logvar_all = gather_batch(torch.cat([z, mu, logvar], dim=1)).chunk(3, 1)
            n = max(self.dataset_size, z_all.shape[0])
            rows = slice(rank * b, (rank + 1) * b)
            parts = decompose_kl(z_all, mu_all, logvar_all, n, self.config.estimator, rows=rows)
        mi, tc, dwkl = parts.mi.mean(), parts.tc.mean(), parts.dwkl.mean()
        c = self.config
        loss = recon + c.alpha * mi + c.beta * tc + c.gamma * dwkl
        kl_dims = gaussian_kl(mu, logvar)
        terms = {
            "loss": loss,
            "recon": recon,
            "kl": kl_dims.sum(dim=1).mean(),
            "mi": mi,
            "tc": tc,
            "dwkl": dwkl,
            "mse": (x_hat - x).pow(2).mean(),
        }
        return ObjectiveOutput(loss, terms, kl_dims.mean(dim=0))

"""Importance-weighted autoencoder: the k-sample bound as the training objective.

Burda et al. 2016, "Importance weighted autoencoders" (ICLR), eq. 8:
    L_k(x) = E_{z_1..z_k ~ q(z|x)} [ log 1/k sum_s w_s ],  w_s = p(x|z_s) p(z_s) / q(z_s|x),
a lower bound on log p(x) that equals the ELBO at k = 1 and does not decrease as k grows (their
Theorem 1), tending to log p(x) as k -> infinity. Every density carries its normaliser, so log w is
in nats: log p(x|z) is the reconstruction likelihood's full log-density summed over the example's
mel x frame elements, log p(z) and log q(z|x) are diagonal Gaussian log-densities summed over
latent dimensions. The loss is -mean over the batch of (logsumexp_s log w_s - log k); there is no
beta (it is a likelihood bound, per-example sums, beta = 1 in beta_vae's units).

Cost: the decoder runs k times per example. Larger k tightens the bound but lowers the
signal-to-noise ratio of the encoder's gradient (Rainforth et al. 2018, "Tighter variational
bounds are not necessarily better").
"""

from __future__ import annotations

import math

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
from audiovae.objectives.likelihood import ReconstructionLikelihood
from audiovae.objectives.tc import log_density_gaussian


class IWAEConfig(ReconstructionConfig):
    """Recipe section `objective` for `name: iwae`."""

    name: str = "iwae"
    k: int = Field(5, ge=1, description="importance samples per example (decoder runs k times)")


def _wide(t: torch.Tensor) -> torch.Tensor:
    """float64 stays float64; anything narrower (bf16 under autocast) becomes float32."""
    return t if t.dtype == torch.float64 else t.float()


def log_importance_weights(
    model: nn.Module,
    likelihood: ReconstructionLikelihood,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log w [k, batch], nll [k, batch]) for k draws z_s ~ q(z|x) = N(mu, exp(logvar)).

    log w = log p(x|z) + log p(z) - log q(z|x) (Burda et al. 2016, eq. 8), each with its
    normaliser; `nll` is -log p(x|z). The k draws come from one `reparameterize` call on
    [k, batch, latent] so that k = 1 draws the same noise as a single-sample objective; each draw
    is decoded as its own batch, so a model bound to per-example conditions works unchanged.
    """
    mu_k = mu.expand(k, *mu.shape)
    logvar_k = logvar.expand(k, *logvar.shape)
    z = model.reparameterize(mu_k, logvar_k, generator)  # [k, batch, latent]
    nll = torch.stack([likelihood.nll(_wide(model.decode(z_s)), x) for z_s in z])
    z, mu_k, logvar_k = _wide(z), _wide(mu_k), _wide(logvar_k)
    log_pz = log_density_gaussian(z, torch.zeros_like(z), torch.zeros_like(z)).sum(dim=2)
    log_qz = log_density_gaussian(z, mu_k, logvar_k).sum(dim=2)
    return -nll + log_pz - log_qz, nll


@torch.no_grad()
def iwae_log_likelihood(
    model: nn.Module,
    likelihood: ReconstructionLikelihood,
    x: torch.Tensor,
    k: int = 1000,
    batch_k: int = 100,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Estimate log p(x) [batch] in nats with the k-sample importance-weighted bound (Burda et al.
    2016, Sec. 5: k = 5000 there), for any model with encode / decode / reparameterize.

    Samples are drawn `batch_k` at a time, so memory holds batch_k decodes per example, not k.
    Its expectation is a lower bound on log p(x) that tightens as k grows. The model's
    train / eval mode is left as the caller set it.
    """
    if k < 1 or batch_k < 1:
        raise ValueError(f"k and batch_k must be >= 1, got k={k}, batch_k={batch_k}")
    mu, logvar = model.encode(x)
    mu, logvar = _wide(mu), _wide(logvar)
    chunks = []
    done = 0
    while done < k:
        size = min(batch_k, k - done)
        log_w, _ = log_importance_weights(model, likelihood, x, mu, logvar, size, generator)
        chunks.append(torch.logsumexp(log_w, dim=0))
        done += size
    return torch.logsumexp(torch.stack(chunks), dim=0) - math.log(k)


@register_objective("iwae")
class IWAE(ReconstructionObjective):
    """Negative k-sample importance-weighted bound, averaged over the batch."""

    Config = IWAEConfig

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        step: int,
        generator: torch.Generator | None = None,
    ) -> ObjectiveOutput:
        k = self.config.k
        mu, logvar = model.encode(x)
        log_w, nll = log_importance_weights(model, self.likelihood, x, mu, logvar, k, generator)
        bound = (torch.logsumexp(log_w, dim=0) - math.log(k)).mean()
        kl_dims = gaussian_kl(_wide(mu), _wide(logvar))
        terms = {
            "loss": -bound,
            "iwae_bound": bound,
            "elbo": log_w.mean(),  # the k = 1 bound, averaged over the same k draws
            "recon": nll.mean(),
            "kl": kl_dims.sum(dim=1).mean(),
        }
        return ObjectiveOutput(-bound, terms, kl_dims.mean(dim=0))

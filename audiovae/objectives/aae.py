"""Adversarial autoencoder: a discriminator, not the KL, pulls the aggregate posterior to N(0, I).

Makhzani et al. 2016, "Adversarial autoencoders" (ICLR workshop), section 2. The encoder is
trained on reconstruction plus a generator loss that makes its codes look like prior samples to a
discriminator D; D is trained to tell prior samples z_p ~ N(0, I) (label 1) from codes
z_q ~ q(z|x) (label 0). At the optimum the aggregate posterior q(z) = E_x q(z|x) equals the prior,
so decoding prior samples gives data, while single posteriors q(z|x) are left free (no per-example
KL, unlike a VAE):

    loss   = NLL(x | z_q) + adv_weight * E[-log D(z_q)]            (main optimiser)
    d_loss = 0.5 * (E[-log D(z_p)] + E[-log(1 - D(z_q))])          (auxiliary optimiser)

The generator term is the non-saturating -log D(z_q) (Goodfellow et al. 2014, section 3), which
keeps a useful gradient while D still wins easily. The paper alternates a reconstruction phase and
a regularisation phase with separate updates; here both are one loss, minimised in one step.

Posterior: z_q is a sample of the Gaussian posterior N(mu, sigma^2) (the paper's "Gaussian
posterior" choice, section 2), not the deterministic mu: the model's log-variance head then keeps
a meaning, and the analytic KL(q(z|x) || N(0, I)) it implies is reported per dimension (`kl`,
`kl_per_dim`; not in the loss) so collapsed or unused dimensions show as in the other objectives.
The NLL is summed over every element of an example and averaged over the batch, as in beta_vae;
the generator term is one number per example, also averaged over the batch. The generator term is
at most a few nats per example against an NLL summed over thousands of elements, so adv_weight must
be large, and like any weight against the NLL it scales as 1 / scale^2. Measured on the tiny
synthetic notes (400 steps): at scale 0.3, weight 1 leaves the discriminator certain
(D(z_q) ~ 0.003) and 10 nearly so (0.06), while 100 brings it near chance (0.46 vs 0.58 on prior
samples) at no reconstruction cost; at scale 0.1 the same happens at 1000. Hence the default 10
(for the default scale 1) and 1000 in recipes/aae.yaml (scale 0.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from audiovae.models.noise import standard_normal
from audiovae.objectives import register_objective
from audiovae.objectives.base import (
    ObjectiveOutput,
)
from audiovae.objectives.discriminator import DiscriminatorConfig, DiscriminatorObjective
from audiovae.objectives.kl import gaussian_kl


class AAEConfig(DiscriminatorConfig):
    """Recipe section `objective` for `name: aae`."""

    name: str = "aae"
    adv_weight: float = Field(
        10.0, ge=0, description="weight of the generator loss -log D(z_q) (nats per example)"
    )


@register_objective("aae")
class AdversarialAutoencoder(DiscriminatorObjective):
    """Reconstruction + adv_weight * non-saturating generator loss against a prior discriminator."""

    Config = AAEConfig

    def prior_logit(self, z: torch.Tensor) -> torch.Tensor:
        """D's logit log D(z) / (1 - D(z)) that z is a prior sample [batch] (float32)."""
        return self.logit(z)

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
        adv = F.softplus(-self.prior_logit(z)).mean()  # -log D(z_q) = -log sigmoid(logit)
        loss = recon + self.config.adv_weight * adv
        kl_dims = gaussian_kl(mu.float(), logvar.float()).detach()
        terms = {
            "loss": loss,
            "recon": recon,
            "adv": adv,
            "kl": kl_dims.sum(dim=1).mean(),
            "mse": (x_hat - x).pow(2).mean(),
        }
        return ObjectiveOutput(loss, terms, kl_dims.mean(dim=0))

    def auxiliary_loss(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        step: int,
        generator: torch.Generator | None = None,
    ) -> ObjectiveOutput:
        """D's logistic loss: prior samples (label 1) against codes of this batch (label 0).

        z_q is re-encoded from the batch without gradients (the encoder as the main step just left
        it, fresh noise), then as many prior samples are drawn, both from `generator`. Terms:
        `d_loss` (log 2 = 0.693 when D cannot tell), `d_real` and `d_fake`, the mean probability
        D gives "prior" to prior samples and to codes (both 0.5 at the equilibrium).
        """
        with torch.no_grad():
            mu, logvar = model.encode(x)
            z_q = model.reparameterize(mu, logvar, generator).float()
            z_p = standard_normal(z_q.shape, generator, z_q.device)
        logit_p = self.prior_logit(z_p)
        logit_q = self.prior_logit(z_q)
        d_loss = 0.5 * (
            F.binary_cross_entropy_with_logits(logit_p, torch.ones_like(logit_p))
            + F.binary_cross_entropy_with_logits(logit_q, torch.zeros_like(logit_q))
        )
        terms = {
            "d_loss": d_loss,
            "d_real": torch.sigmoid(logit_p).mean(),
            "d_fake": torch.sigmoid(logit_q).mean(),
        }
        return ObjectiveOutput(d_loss, terms)

"""Conditional VAE (Sohn, Lee and Yan 2015, "Learning structured output representation using deep
conditional generative models"): q(z|x,c) and p(x|z,c) both see the labels c chosen in the recipe,
and the prior stays N(0, I), so the latent need not encode c.

The loss is the beta-VAE's, -E_q[log p(x|z,c)] + beta * KL(q(z|x,c) || N(0, I)), with the same
normalisation (per-example sums). The trainer builds a model with one learned embedding per value
of each condition label and binds each batch's labels to it, so this objective only names them.
"""

from __future__ import annotations

from pydantic import Field

from audiovae.objectives import register_objective
from audiovae.objectives.beta_vae import BetaVAE, BetaVAEConfig


class CVAEConfig(BetaVAEConfig):
    """Recipe section `objective` for `name: cvae`."""

    name: str = "cvae"
    condition: list[str] = Field(
        default_factory=lambda: ["pitch"], min_length=1, description="labels to condition on"
    )


@register_objective("cvae")
class ConditionalVAE(BetaVAE):
    """beta-VAE loss on a model conditioned on `condition` labels (see the module docstring)."""

    Config = CVAEConfig

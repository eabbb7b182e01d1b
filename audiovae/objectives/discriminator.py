"""Objectives with a latent discriminator (FactorVAE, the adversarial autoencoder): its network,
its recipe keys and its optimiser, in one place."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from audiovae.objectives.base import ReconstructionConfig, ReconstructionObjective


def latent_discriminator(latent_dim: int, hidden: int, layers: int) -> nn.Sequential:
    """An MLP z [batch, latent_dim] -> one logit [batch, 1]: `layers` hidden layers of `hidden`
    units with LeakyReLU(0.2) (the discriminators of Kim and Mnih 2018, appendix)."""
    if latent_dim <= 0 or hidden <= 0 or layers <= 0:
        raise ValueError(
            f"discriminator sizes must be positive: latent_dim={latent_dim}, hidden={hidden}, "
            f"layers={layers}"
        )
    blocks: list[nn.Module] = []
    width = latent_dim
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    blocks.append(nn.Linear(width, 1))
    return nn.Sequential(*blocks)


class DiscriminatorConfig(ReconstructionConfig):
    """Keys of the latent discriminator."""

    disc_hidden: int = Field(256, gt=0, description="units per discriminator hidden layer")
    disc_layers: int = Field(2, gt=0, description="discriminator hidden layers")
    disc_lr: float = Field(1e-4, gt=0, description="discriminator Adam learning rate")


class DiscriminatorObjective(ReconstructionObjective):
    """A reconstruction objective plus a discriminator on z (one logit), trained by the trainer's
    auxiliary optimiser: Adam(disc_lr, betas (0.5, 0.9)), as Kim and Mnih 2018."""

    def __init__(
        self,
        config: DiscriminatorConfig,
        *,
        n_mels: int,
        dataset_size: int,
        latent_dim: int | None = None,
    ) -> None:
        super().__init__(config, n_mels=n_mels, dataset_size=dataset_size, latent_dim=latent_dim)
        if latent_dim is None:
            raise ValueError(
                f"{self.name} needs latent_dim (the model's z size) for its discriminator"
            )
        self.discriminator = latent_discriminator(
            latent_dim, config.disc_hidden, config.disc_layers
        )

    def auxiliary_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def make_auxiliary_optimizer(self) -> torch.optim.Optimizer:
        """Adam(disc_lr, betas (0.5, 0.9)) for the discriminator."""
        return torch.optim.Adam(
            self.auxiliary_parameters(), lr=self.config.disc_lr, betas=(0.5, 0.9)
        )

    def logit(self, z: torch.Tensor) -> torch.Tensor:
        """The discriminator's logit for each z [batch] (float32)."""
        return self.discriminator(z).squeeze(1).float()

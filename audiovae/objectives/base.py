"""The interface every objective implements, so the trainer never needs to know which one runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from audiovae.objectives.likelihood import LikelihoodName, ReconstructionLikelihood


class ObjectiveConfig(BaseModel):
    """Base of each objective's recipe section; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")
    name: str


@dataclass
class ObjectiveOutput:
    """What one objective evaluation returns.

    `loss` is what the optimiser minimises (a scalar, mean over the batch); `terms` are scalars to
    log (detached by the trainer); `kl_per_dim` is the batch-mean KL of each latent dimension.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    kl_per_dim: torch.Tensor | None = None


class Objective(nn.Module):
    """An objective owns its parameters (e.g. a learned variance) and state (e.g. annealing).

    Both are saved with checkpoints through `state_dict`, so resume is exact. Objectives with a
    second player (FactorVAE's and the adversarial autoencoder's discriminators) list its
    parameters in `auxiliary_parameters`; the trainer then steps them with their own optimiser
    (`make_auxiliary_optimizer`) on `auxiliary_loss`, right after the main step, and checkpoints
    that optimiser too. The main optimiser never touches auxiliary parameters.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[ObjectiveConfig]] = ObjectiveConfig
    paired: ClassVar[bool] = False
    """True for objectives that learn from pairs of notes (`data.pairs` in the recipe): the
    trainer then hands them batches whose rows (2i, 2i + 1) are partners, every rank's slice
    holding whole pairs."""

    @classmethod
    def is_paired(cls, config: ObjectiveConfig) -> bool:
        """Whether this objective, so configured, learns from pairs (needs `data.pairs`)."""
        return cls.paired

    @classmethod
    def labels_needed(cls, config: ObjectiveConfig) -> list[str]:
        """Data labels this objective reads per batch (none by default). For an objective that
        names some, the trainer builds each label's vocabulary from the training notes, passes
        `label_vocab` (label -> its values, index = class) and `subspaces` (the model's block
        sizes) to __init__, and `labels` (label -> LongTensor [batch] of class indices, -1 where
        hidden or unknown) to forward."""
        return []

    @classmethod
    def check_model(cls, config: ObjectiveConfig, subspaces: dict[str, int]) -> None:
        """Raise ValueError (one line) if this objective cannot train a model with these latent
        sub-spaces (a recipe-time check; nothing to check by default)."""

    def auxiliary_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by the auxiliary optimiser (none by default)."""
        return []

    def main_parameters(self) -> list[nn.Parameter]:
        """This objective's parameters that the main optimiser trains with the model."""
        aux = {id(p) for p in self.auxiliary_parameters()}
        return [p for p in self.parameters() if id(p) not in aux]

    def make_auxiliary_optimizer(self) -> torch.optim.Optimizer | None:
        """The optimiser of `auxiliary_parameters` (None when there are none)."""
        params = self.auxiliary_parameters()
        return torch.optim.Adam(params, lr=1e-4, betas=(0.5, 0.9)) if params else None

    def auxiliary_loss(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        step: int,
        generator: torch.Generator | None = None,
    ) -> ObjectiveOutput | None:
        """The second player's loss on the same batch, minimised over `auxiliary_parameters`."""
        return None

    def __init__(
        self,
        config: ObjectiveConfig,
        *,
        n_mels: int,
        dataset_size: int,
        latent_dim: int | None = None,
    ) -> None:
        """`latent_dim` (the model's z size, passed by the trainer) lets an objective build
        parameters that act on z, such as a discriminator, before its optimiser is made."""
        super().__init__()
        self.config = config
        self.n_mels = n_mels
        self.dataset_size = dataset_size
        self.latent_dim = latent_dim

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        step: int,
        generator: torch.Generator | None = None,
    ) -> ObjectiveOutput:
        """Evaluate on a batch `x` of normalised log-mels [batch, n_mels, frames]."""
        raise NotImplementedError


class ReconstructionConfig(ObjectiveConfig):
    """Keys shared by every objective with a reconstruction likelihood p(x|z)."""

    likelihood: LikelihoodName = "gaussian"
    scale: float = Field(1.0, gt=0, description="fixed std (gaussian) or scale (laplace); init")


@dataclass
class PosteriorPass:
    """One encode -> sample -> decode pass: q(z|x)'s mean and log-variance, the sample z, the
    decoded mean x_hat (float32) and the batch-mean reconstruction NLL (per-example sums)."""

    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    x_hat: torch.Tensor
    recon: torch.Tensor


class ReconstructionObjective(Objective):
    """An objective that scores reconstructions with `ReconstructionLikelihood` (all of ours)."""

    Config: ClassVar[type[ReconstructionConfig]] = ReconstructionConfig

    def __init__(
        self,
        config: ReconstructionConfig,
        *,
        n_mels: int,
        dataset_size: int,
        latent_dim: int | None = None,
    ) -> None:
        super().__init__(config, n_mels=n_mels, dataset_size=dataset_size, latent_dim=latent_dim)
        self.likelihood = ReconstructionLikelihood(config.likelihood, n_mels, config.scale)

    def posterior_pass(
        self, model: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> PosteriorPass:
        """Encode x, draw z ~ q(z|x) from `generator`, decode, and score the reconstruction."""
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar, generator)
        x_hat = model.decode(z).float()
        return PosteriorPass(mu, logvar, z, x_hat, self.likelihood.nll(x_hat, x).mean())

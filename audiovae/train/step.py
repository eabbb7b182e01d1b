"""The model and its objective as one module whose forward is the training loss.

DistributedDataParallel synchronises gradients of the module it wraps only when that module's
forward runs, and objectives call the model's encode / decode directly; wrapping the pair makes
the whole loss one forward, for DDP and for torch.compile alike.
"""

from __future__ import annotations

import torch
from torch import nn

from audiovae.models.conv import Condition, ConvVAE
from audiovae.objectives import Objective
from audiovae.objectives.base import ObjectiveOutput


class ObjectiveStep(nn.Module):
    """`forward(x, step, generator, condition, labels)` -> the objective's output on the model
    (`labels` only for objectives that ask for them: see Objective.labels_needed)."""

    def __init__(self, model: ConvVAE, objective: Objective) -> None:
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(
        self,
        x: torch.Tensor,
        step: int,
        generator: torch.Generator | None,
        condition: Condition | None = None,
        labels: dict[str, torch.Tensor] | None = None,
    ) -> ObjectiveOutput:
        extra = {} if labels is None else {"labels": labels}
        return self.objective(
            self.model.bind(condition), x, step=step, generator=generator, **extra
        )

    def auxiliary_parameter_names(self) -> list[str]:
        """Names (relative to this module) of the objective's auxiliary networks' parameters,
        which have their own optimiser and loss and so stay outside DDP's gradient buckets."""
        aux = {id(p) for p in self.objective.auxiliary_parameters()}
        return [name for name, p in self.named_parameters() if id(p) in aux]

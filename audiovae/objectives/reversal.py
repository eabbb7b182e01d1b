"""Gradient reversal (Ganin and Lempitsky 2015, "Unsupervised domain adaptation by
backpropagation"): identity going forward, gradient times -scale going back.

Placed between an encoder and an adversary, one optimiser step trains the adversary to predict a
label from the encoder's features while pushing the encoder, by the same gradient negated, to make
that prediction fail.
"""

from __future__ import annotations

import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """x unchanged; the gradient flowing back through it is multiplied by -scale."""
    if scale < 0:
        raise ValueError(f"gradient reversal scale must be >= 0, got {scale}")
    return _Reverse.apply(x, float(scale))


class GradientReversal(nn.Module):
    """`reverse_gradient` as a layer with a fixed scale."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.scale)

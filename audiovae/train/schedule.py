"""What the loop decides by rule: the learning rate at a step, and the score best.safetensors
minimises."""

from __future__ import annotations

import math

from audiovae.recipe import TrainSection


def lr_at(step: int, total_steps: int, train: TrainSection) -> float:
    """Learning rate at `step`: linear warm-up, then constant or cosine decay to min_lr_ratio."""
    if train.warmup_steps and step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    if train.schedule == "constant":
        return train.lr
    span = max(1, total_steps - train.warmup_steps)
    progress = min(1.0, (step - train.warmup_steps) / span)
    floor = train.min_lr_ratio
    return train.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def selection_score(valid: dict[str, float], select_on: str) -> float:
    """What best.safetensors minimises: the objective's own validation `loss`, or the negative
    ELBO `recon + kl`, which annealed targets (capacity_vae's C(t)) and discriminator terms
    (factor_vae, aae) do not move from one validation to the next."""
    if select_on == "elbo":
        return valid["recon"] + valid["kl"]
    return valid["loss"]

"""The learning-rate schedule and the score best.safetensors minimises, by hand."""

from __future__ import annotations

import math

import pytest

from audiovae.recipe import TrainSection
from audiovae.train.schedule import lr_at, selection_score


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainSection(lr=1.0, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at(0, 110, cfg) == pytest.approx(0.1)
    assert lr_at(9, 110, cfg) == pytest.approx(1.0)
    assert lr_at(10, 110, cfg) == pytest.approx(1.0)
    assert lr_at(60, 110, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(110, 110, cfg) == pytest.approx(0.1)
    assert lr_at(50, 110, TrainSection(lr=2.0, schedule="constant")) == 2.0


def test_selection_score_is_the_elbo_or_the_objectives_loss():
    valid = {"loss": 5.0, "recon": 3.0, "kl": 1.5, "tc": -0.5}
    assert selection_score(valid, "elbo") == 4.5
    assert selection_score(valid, "loss") == 5.0

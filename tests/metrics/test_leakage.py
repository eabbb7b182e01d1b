"""Leakage probes: at chance on independent noise, near 1 on a planted dependency."""

from __future__ import annotations

import numpy as np
import pytest

from audiovae.metrics.leakage import block_leakage, linear_probe


def circle(y: np.ndarray, classes: int, seed: int) -> np.ndarray:
    """Each class a point on a circle, plus a little noise: linearly separable classes."""
    angle = 2 * np.pi * y / classes
    noise = 0.1 * np.random.default_rng(seed).standard_normal((len(y), 2))
    return 3 * np.stack([np.cos(angle), np.sin(angle)], axis=1) + noise


def data(seed: int = 0, n: int = 600, classes: int = 6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.standard_normal((n, 8))
    rows = rng.permutation(n)
    return x, y, np.sort(rows[: n // 2]), np.sort(rows[n // 2 :])


def test_probe_sits_at_chance_on_independent_noise():
    x, y, train, test = data()
    out = linear_probe(x, y, train, test)
    assert out["chance"] == pytest.approx(np.mean(y[test] == np.bincount(y[train]).argmax()))
    assert abs(out["accuracy"] - 1 / 6) < 0.06  # 300 test rows: binomial sd ~0.02
    assert out["dims"] == 8 and out["classes"] == 6


def test_probe_detects_a_planted_dependency():
    x, y, train, test = data(1)
    x[:, 3:5] = circle(y, 6, 2)
    assert linear_probe(x, y, train, test)["accuracy"] > 0.95
    assert linear_probe(np.delete(x, [3, 4], axis=1), y, train, test)["accuracy"] < 0.3


def test_block_leakage_reads_each_label_from_the_other_block():
    x, pitch, train, test = data(3)
    family = np.random.default_rng(4).integers(0, 3, len(pitch))
    x[:, 0:2] = circle(pitch, 6, 5)  # pitch lives in dims 0-1 (the pitch block) ...
    x[:, 5:7] = circle(family, 3, 6)  # ... and family leaked into dims 5-6, declared pitch too
    out = block_leakage(x, [0, 1, 5, 6], [2, 3, 4, 7], pitch, family, train, test)
    assert out["pitch_from_timbre"]["accuracy"] < 0.3  # the timbre dims hold no pitch
    assert out["family_from_pitch"]["accuracy"] > 0.95  # the pitch block leaks family


def test_probe_without_dims_scores_chance():
    x, y, train, test = data()
    out = linear_probe(x[:, :0], y, train, test)
    assert out["accuracy"] == out["chance"]

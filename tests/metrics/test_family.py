"""The family classifier on constructed log-mels whose family sets the spectral envelope."""

from __future__ import annotations

import numpy as np
import pytest

from audiovae.metrics.family import FamilyClassifier, pooled_logmel

MELS, FRAMES = 32, 20


def notes(family: int, instrument_seed: int, n: int) -> np.ndarray:
    """Log-mels [n, MELS, FRAMES]: a family envelope (a formant at a family-specific band), an
    instrument-specific perturbation, a random pitch peak, a random level, frame noise."""
    rng = np.random.default_rng(instrument_seed)
    bands = np.arange(MELS)
    envelope = -0.15 * bands + 3.0 * np.exp(-0.5 * ((bands - (6 + 8 * family)) / 2.0) ** 2)
    envelope = envelope + 0.3 * rng.standard_normal(MELS)
    out = np.empty((n, MELS, FRAMES))
    for i in range(n):
        peak = 2.0 * np.exp(-0.5 * ((bands - rng.integers(2, MELS - 2)) / 1.0) ** 2)
        level = rng.uniform(-4, 4)
        out[i] = (envelope + peak + level)[:, None] + 0.3 * rng.standard_normal((MELS, FRAMES))
    return out


def test_pooled_logmel_against_numpy():
    x = np.random.default_rng(0).standard_normal((3, MELS, FRAMES))
    feats = pooled_logmel(x)
    mean = x.mean(axis=2)
    np.testing.assert_allclose(feats[:, :MELS], mean - mean.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(feats[:, MELS:], x.std(axis=2))
    np.testing.assert_allclose(pooled_logmel(x + 7.0), feats)  # level-free


def test_classifier_generalises_to_held_out_instruments_and_ignores_level():
    train = [(f, notes(f, 10 * f + k, 30)) for f in range(3) for k in range(3)]
    test = [(f, notes(f, 10 * f + 9, 30)) for f in range(3)]
    x_train = np.concatenate([x for _, x in train])
    y_train = np.concatenate([[f"fam{f}"] * len(x) for f, x in train])
    x_test = np.concatenate([x for _, x in test])
    y_test = np.concatenate([[f"fam{f}"] * len(x) for f, x in test])
    clf = FamilyClassifier().fit(x_train, y_train)
    assert clf.accuracy(x_test, y_test) > 0.9
    np.testing.assert_array_equal(clf.predict(x_test + 5.0), clf.predict(x_test))
    assert sorted(clf.classes_) == ["fam0", "fam1", "fam2"]


def test_classifier_needs_two_families():
    with pytest.raises(ValueError, match="2 or more"):
        FamilyClassifier().fit(notes(0, 1, 4), np.array(["a"] * 4))

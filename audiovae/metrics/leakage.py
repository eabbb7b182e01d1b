"""Leakage probes: how much of a label a latent block still holds that should not hold it (pitch in
the timbre block, family in the pitch block), as linear-probe accuracy against chance.

A probe is standardised multinomial logistic regression fitted on training rows and scored on
test rows (held-out instruments in the listening test). Chance is the accuracy of always
predicting the training rows' most frequent class; `ratio` is accuracy / chance (1: no leak).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def linear_probe(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Accuracy of a linear probe predicting y from x on `test` rows, with chance and their ratio.

    Classes absent from the training rows cannot be predicted; they count as errors, as they
    would for chance.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    train, test = np.asarray(train), np.asarray(test)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"need x [n, d] and y [n], got {x.shape} and {y.shape}")
    if len(train) == 0 or len(test) == 0:
        raise ValueError("a probe needs training and test rows")
    classes, counts = np.unique(y[train], return_counts=True)
    majority = classes[np.argmax(counts)]
    chance = float(np.mean(y[test] == majority))
    if x.shape[1] == 0 or len(classes) < 2:
        accuracy = chance
    else:
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x[train], y[train])
        accuracy = float(np.mean(clf.predict(x[test]) == y[test]))
    return {
        "accuracy": accuracy,
        "chance": chance,
        "ratio": accuracy / chance if chance > 0 else None,
        "dims": int(x.shape[1]),
        "classes": int(len(np.unique(y))),
        "test_rows": int(len(test)),
    }


def block_leakage(
    mu: np.ndarray,
    pitch_dims: list[int],
    timbre_dims: list[int],
    pitch: np.ndarray,
    family: np.ndarray | None,
    train: np.ndarray,
    test: np.ndarray,
    seed: int = 0,
) -> dict[str, Any]:
    """Pitch from the timbre dims and family from the pitch dims of mu (unstructured models: the
    chosen pitch dims and the rest)."""
    mu = np.asarray(mu)
    out: dict[str, Any] = {
        "pitch_from_timbre": linear_probe(mu[:, timbre_dims], pitch, train, test, seed),
    }
    if family is not None:
        out["family_from_pitch"] = linear_probe(mu[:, pitch_dims], family, train, test, seed)
    return out

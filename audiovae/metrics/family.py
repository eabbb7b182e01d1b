"""An instrument-family classifier of log-mels, trained on real notes only, to judge whose timbre a
swapped output carries.

Features: per mel band, the time-mean (minus the clip's overall mean, so loudness and Griffin-Lim
gain do not matter) and the time-standard deviation of the log-mel; standardised, then
multinomial logistic regression. Fit it on the training instruments' real log-mels and score it
on held-out instruments' (`heldout_accuracy`), never on model outputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


def pooled_logmel(logmel: torch.Tensor | np.ndarray) -> np.ndarray:
    """Time-pooled statistics [n, 2 * n_mels] of log-mels [n, n_mels, frames]: level-free band
    means, then band standard deviations."""
    x = torch.as_tensor(logmel, dtype=torch.float64)
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise ValueError(f"expected log-mels [n, n_mels, frames], got shape {tuple(x.shape)}")
    mean = x.mean(dim=2)
    mean = mean - mean.mean(dim=1, keepdim=True)
    return torch.cat([mean, x.std(dim=2, unbiased=False)], dim=1).numpy()


class FamilyClassifier:
    """Standardised logistic regression on `pooled_logmel` features; labels are kept as given."""

    def __init__(self, c: float = 1.0, seed: int = 0) -> None:
        self.c = c
        self.seed = seed

    def fit(self, logmel: torch.Tensor | np.ndarray, labels: np.ndarray) -> FamilyClassifier:
        """Fit on real log-mels [n, n_mels, frames] and their family labels."""
        return self.fit_pooled(pooled_logmel(logmel), labels)

    def fit_pooled(self, features: np.ndarray, labels: np.ndarray) -> FamilyClassifier:
        """Fit on `pooled_logmel` features already computed (in chunks, for large data)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        labels = np.asarray(labels)
        if len(np.unique(labels)) < 2:
            raise ValueError("the family classifier needs notes of 2 or more families")
        self.pipeline_ = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.c, max_iter=2000, random_state=self.seed)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.pipeline_.fit(np.asarray(features), labels)
        return self

    @property
    def classes_(self) -> np.ndarray:
        return self.pipeline_.classes_

    def predict(self, logmel: torch.Tensor | np.ndarray) -> np.ndarray:
        return self.pipeline_.predict(pooled_logmel(logmel))

    def predict_pooled(self, features: np.ndarray) -> np.ndarray:
        return self.pipeline_.predict(np.asarray(features))

    def accuracy(self, logmel: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(self.predict(logmel) == np.asarray(labels)))

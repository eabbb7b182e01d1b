"""A scikit-learn transformer: audio (paths or waveforms) -> the posterior mean of a trained model.

>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> clf = make_pipeline(AudioVAEFeatures("runs/demo"), LogisticRegression())  # doctest: +SKIP
>>> clf.fit(["a.wav", "b.wav"], ["guitar", "organ"]).predict(["c.wav"])       # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6

    def validate_data(estimator, X, **kwargs):
        return estimator._validate_data(X, **kwargs)


class AudioVAEFeatures(TransformerMixin, BaseEstimator):
    """Maps audio to the latent mean `mu` [n, latent_dim] (float32) of a trained run's model.

    X is a list (or 1-D array) of audio file paths, or waveforms [n, samples] at the model's
    sample rate (cropped from the start or zero-padded to the model's clip, as in training).
    `fit` learns nothing from X: it loads the model (so a Pipeline can be cloned and pickled
    unfitted) and is needed before `transform`, following scikit-learn's conventions.

    Parameters:
        run_dir: the run folder written by `audiovae train`.
        checkpoint: "best" (lowest validation loss) or "last".
        device: where the model runs ("cpu", "cuda", "mps" or "auto").
        batch_size: clips encoded per forward pass.
    """

    def __init__(
        self,
        run_dir: str | Path | None = None,
        checkpoint: str = "best",
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        self.run_dir = run_dir
        self.checkpoint = checkpoint
        self.device = device
        self.batch_size = batch_size

    def fit(self, X: Any = None, y: Any = None) -> AudioVAEFeatures:
        """Load the model and validate X (nothing is learnt from it); returns self."""
        from audiovae.api import AudioVAE

        if self.run_dir is None:
            raise ValueError("AudioVAEFeatures needs run_dir, the run folder of a trained model")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if hasattr(self, "n_features_in_"):
            del self.n_features_in_
        if X is not None and _paths(X) is None:
            validate_data(self, X, dtype=[np.float32, np.float64], reset=True)
        device = None if self.device == "auto" else self.device
        self.model_ = AudioVAE.load(self.run_dir, checkpoint=self.checkpoint, device=device)
        self.n_features_out_ = int(self.model_.latent_dim)
        self.sample_rate_ = int(self.model_.sample_rate)
        self.clip_samples_ = int(self.model_.clip_samples)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """mu [n, latent_dim] float32 of paths or waveforms [n, samples]; pure (no state change).

        Waveforms must have as many samples as those given to `fit`, if fit was given any.
        """
        check_is_fitted(self, "model_")
        audio = _paths(X)
        if audio is None:
            if hasattr(self, "n_features_in_"):
                audio = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
            else:
                audio = check_array(X, dtype=[np.float32, np.float64])
            audio = np.ascontiguousarray(audio, dtype=np.float32)
        mu = self.model_.embed(audio, batch_size=self.batch_size)
        if hasattr(mu, "detach"):
            mu = mu.detach().cpu().numpy()
        return np.asarray(mu, dtype=np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names: mu_0 ... mu_{latent_dim - 1}."""
        check_is_fitted(self, "model_")
        return np.asarray([f"mu_{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # paths
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _paths(X: Any) -> list[str] | None:
    """X as a list of audio paths, or None when X is not paths (then it must be waveforms)."""
    if isinstance(X, (str, Path)):
        raise ValueError("expected a list of audio paths or waveforms [n, samples], got one path")
    if isinstance(X, (list, tuple)):
        if X and all(isinstance(x, (str, Path)) for x in X):
            return [str(x) for x in X]
        return None
    if hasattr(X, "dtype") and getattr(X, "ndim", 0) in (1, 2):
        array = np.asarray(X) if not hasattr(X, "tocsr") else None
        if array is not None and array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]  # one column of paths (a DataFrame column)
        if array is not None and array.ndim == 1 and array.size:
            if array.dtype.kind in "US" or all(isinstance(x, (str, Path)) for x in array):
                return [str(x) for x in array]
    return None

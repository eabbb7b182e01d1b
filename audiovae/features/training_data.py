"""A recipe's training data as feature caches plus its train / validation split.

The trainer builds it before training (train/build.py adds the torchrun barrier around it), and
the report rebuilds it for run folders written before split.json recorded the split; it lives
here, beside the cache, so that the report does not import the training package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audiovae.data.sources import training_clipsets
from audiovae.errors import AudioVAEError
from audiovae.features.cache import FeatureCache, build_cache
from audiovae.features.logmel import LogMelFrontEnd

if TYPE_CHECKING:
    from audiovae.recipe import Recipe


@dataclass
class TrainingData:
    """Caches and index sets for one run."""

    train: FeatureCache
    train_indices: np.ndarray
    valid: FeatureCache
    valid_indices: np.ndarray

    def summary(self) -> dict[str, Any]:
        """What the run manifest records about the data (`RunManifest.data`)."""
        return {
            "train_source": self.train.meta["source"],
            "train_clips": int(self.train_indices.size),
            "valid_source": self.valid.meta["source"],
            "valid_clips": int(self.valid_indices.size),
            "train_cache": str(self.train.path),
            "skipped": len(self.train.meta.get("skipped", [])),
        }

    @property
    def valid_ids(self) -> list[str]:
        """Clip ids of the validation set, in cache order."""
        return [self.valid.ids[i] for i in self.valid_indices]


def held_out_indices(n: int, valid_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) row indices, each sorted, of a seeded hold-out of `valid_fraction` of `n`
    clips (at least one held out, at least one kept)."""
    n_valid = max(1, int(round(valid_fraction * n)))
    if n - n_valid < 1:
        raise AudioVAEError(f"only {n} clips: too few to hold out a validation set")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])


def build_training_data(
    recipe: Recipe, frontend: LogMelFrontEnd, progress: bool = True
) -> TrainingData:
    """Build (or open) the feature caches of `recipe.data` and split them: `data.valid` when
    given, else the seeded `data.valid_fraction` of the training clips (seed `train.seed`)."""
    data = recipe.data
    train_clips, valid_clips = training_clipsets(data)
    cache_root = Path(recipe.features.cache_dir) if recipe.features.cache_dir else None
    common = dict(cache_root=cache_root, on_bad_file=data.on_bad_file, progress=progress)
    train = build_cache(train_clips, frontend, data.clip_samples, **common)
    if valid_clips is not None:
        valid = build_cache(valid_clips, frontend, data.clip_samples, **common)
        return TrainingData(train, np.arange(len(train)), valid, np.arange(len(valid)))
    train_rows, valid_rows = held_out_indices(len(train), data.valid_fraction, recipe.train.seed)
    return TrainingData(train, train_rows, train, valid_rows)

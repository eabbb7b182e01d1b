"""The seeded hold-out split a run's validation set comes from."""

from __future__ import annotations

import numpy as np
import pytest

from audiovae.errors import AudioVAEError
from audiovae.features.training_data import held_out_indices


def test_held_out_indices_match_a_hand_computed_split():
    train, valid = held_out_indices(10, 0.25, seed=3)
    perm = np.random.default_rng(3).permutation(10)  # round(2.5) = 2 held out
    assert valid.tolist() == sorted(perm[:2].tolist())
    assert train.tolist() == sorted(perm[2:].tolist())
    assert not set(train) & set(valid) and len(train) + len(valid) == 10


def test_held_out_indices_hold_out_at_least_one_and_keep_one():
    assert held_out_indices(3, 0.01, seed=0)[1].size == 1
    with pytest.raises(AudioVAEError, match="only 1 clips"):
        held_out_indices(1, 0.5, seed=0)

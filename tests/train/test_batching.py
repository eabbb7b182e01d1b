"""Batching: windows cut by one gather equal slicing; epoch orders and windows are pure
functions of (seed, step); the validation window follows data.crop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from audiovae.recipe import TrainSection
from audiovae.train.batching import Batches, example_indices, keep_cache_on_device, random_windows
from audiovae.train.distributed import DistributedContext


def test_random_windows_match_slicing():

    batch = torch.arange(2 * 3 * 10, dtype=torch.float32).view(2, 3, 10)
    out = random_windows(batch, torch.tensor([0, 4]), 5)
    assert torch.equal(out[0], batch[0, :, 0:5]) and torch.equal(out[1], batch[1, :, 4:9])


def _batches(n_clips: int, batch_size: int, seed: int = 3, crop: str = "start") -> Batches:
    features = np.zeros((n_clips, 2, 10), dtype=np.float16)
    train = SimpleNamespace(features=features)
    data = SimpleNamespace(train=train, train_indices=np.arange(100, 100 + n_clips))
    return Batches(data, TrainSection(seed=seed, cache_on_device="no"), batch_size=batch_size,
                   frames=4, crop=crop, dist=DistributedContext(),
                   device=torch.device("cpu"))  # fmt: skip


def test_each_epoch_visits_every_clip_once_in_a_seeded_order():
    a, b = _batches(12, 4), _batches(12, 4)
    epoch0 = np.concatenate([a.indices(s) for s in range(3)])
    assert sorted(epoch0) == list(range(100, 112))  # train_indices, each once
    assert np.array_equal(epoch0, np.concatenate([b.indices(s) for s in (2, 0, 1)])[
        np.r_[4:8, 8:12, 0:4]])  # fmt: skip
    epoch1 = np.concatenate([a.indices(s) for s in range(3, 6)])
    assert sorted(epoch1) == sorted(epoch0) and not np.array_equal(epoch1, epoch0)
    gen = torch.Generator().manual_seed(3 * 1_000_003 + 1)  # the documented (seed, epoch) draw
    assert np.array_equal(epoch1, 100 + torch.randperm(12, generator=gen).numpy())


def test_training_windows_depend_on_the_step_and_validation_follows_crop():
    batch = torch.arange(3 * 2 * 10, dtype=torch.float32).view(3, 2, 10)
    start, center = _batches(6, 3), _batches(6, 3, crop="center")
    assert torch.equal(start.window(batch), batch[..., 0:4])
    assert torch.equal(center.window(batch), batch[..., 3:7])
    assert torch.equal(start.window(batch, 5), center.window(batch, 5))
    assert not torch.equal(start.window(batch, 5), start.window(batch, 6))
    assert torch.equal(start.window(batch[..., :4], 5), batch[..., :4])  # no spare frames


def test_example_indices_spread_over_the_set_and_cache_policy():
    assert example_indices(np.arange(10, 20), 4).tolist() == [10, 13, 16, 19]
    assert example_indices(np.arange(2), 4).tolist() == [0, 1]
    cpu = torch.device("cpu")
    assert keep_cache_on_device("yes", cpu, 10) and not keep_cache_on_device("auto", cpu, 10)
    assert not keep_cache_on_device("no", cpu, 10)

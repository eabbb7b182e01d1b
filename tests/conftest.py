"""Shared fixtures: a tiny recipe, and one small model trained once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "data": {
        "kind": "synthetic",
        "clip_seconds": 0.496,  # 7936 samples: 32 frames at hop 256
        "synthetic": {
            "pitches": list(range(48, 60)),
            "families": ["guitar", "reed", "mallet", "organ"],
            "instruments_per_family": 2,
            "velocities": [50, 100],
            "vibrato_depths": [0.0],
        },
    },
    "features": {"n_mels": 64},
    "model": {"latent_dim": 16, "channels": [16, 32, 64]},
    "objective": {"name": "beta_vae", "scale": 0.3},
    "train": {
        "epochs": 1000,
        "max_steps": 600,
        "batch_size": 32,
        "lr": 3e-3,
        "warmup_steps": 10,
        "checkpoint_every": 100,
        "log_every": 20,
        "progress": False,
        "num_threads": 2,
    },
}


def tiny_tree(cache_dir: Path, **train) -> dict:
    """A deep copy of the tiny recipe with its cache in `cache_dir` and `train` overrides."""
    import copy

    tree = copy.deepcopy(TINY)
    tree["features"]["cache_dir"] = str(cache_dir)
    tree["train"].update(train)
    return tree


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, cache_dir) -> tuple[Path, dict]:
    """One small model trained on synthetic notes (fixed seed), shared by every test that needs a
    model which has learned something."""
    from audiovae.train.recipe import recipe_from_dict
    from audiovae.train.trainer import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    summary = train(recipe_from_dict(tiny_tree(cache_dir), "tiny"), out)
    return out, summary

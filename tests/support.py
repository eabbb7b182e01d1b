"""Shared test helpers (not fixtures): the repository root and the tiny recipe."""

from __future__ import annotations

from pathlib import Path

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
        # pinned: bit-exact checks (resume, torchrun equivalence) then mean the same on a GPU
        # machine, where "auto" would train on CUDA; tests that want a GPU override it
        "device": "cpu",
    },
}


def tiny_tree(cache_dir: Path, **train) -> dict:
    """A deep copy of the tiny recipe with its cache in `cache_dir` and `train` overrides."""
    import copy

    tree = copy.deepcopy(TINY)
    tree["features"]["cache_dir"] = str(cache_dir)
    tree["train"].update(train)
    return tree

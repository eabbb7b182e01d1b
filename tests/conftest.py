"""Shared fixtures: a tiny recipe, and one small model trained once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from support import tiny_tree

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, cache_dir) -> tuple[Path, dict]:
    """One small model trained on synthetic notes (fixed seed), shared by every test that needs a
    model which has learned something."""
    from audiovae.recipe import recipe_from_dict
    from audiovae.train.trainer import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    summary = train(recipe_from_dict(tiny_tree(cache_dir), "tiny"), out)
    return out, summary

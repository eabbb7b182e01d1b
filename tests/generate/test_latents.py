"""Interpolation, traversal, prior samples, factor dimensions: against independent computations."""

import numpy as np
import pytest
import torch
from sklearn.feature_selection import f_classif

from audiovae.generate.gain import shared_gain
from audiovae.generate.latents import (
    factor_dims,
    interpolate,
    kl_order,
    sample_prior,
    swap,
    traversal_grid,
)
from audiovae.generate.render import crossfade_concat


def test_linear_path_endpoints_and_midpoint():
    a, b = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    z = interpolate(a, b, 5)
    assert torch.equal(z[0], a) and torch.equal(z[-1], b)
    torch.testing.assert_close(z[2], torch.tensor([2.0, 0.0]))


def test_slerp_keeps_norm_between_equal_norm_vectors_and_hits_endpoints():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(16, generator=g, dtype=torch.float64)
    b = torch.randn(16, generator=g, dtype=torch.float64)
    b = b / b.norm() * a.norm()
    z = interpolate(a, b, 9, "slerp")
    torch.testing.assert_close(z[0], a)
    torch.testing.assert_close(z[-1], b)
    torch.testing.assert_close(
        z.norm(dim=1), torch.full((9,), float(a.norm()), dtype=torch.float64)
    )
    # equal angle steps: cosine between neighbours is constant
    cos = torch.nn.functional.cosine_similarity(z[:-1], z[1:], dim=1)
    torch.testing.assert_close(cos, cos[0].expand(8))
    parallel = interpolate(a, 2 * a, 3, "slerp")  # degenerate: falls back to linear
    torch.testing.assert_close(parallel[1], 1.5 * a)
    with pytest.raises(ValueError):
        interpolate(a, b, 1)


def test_kl_order_and_collapsed_marks():
    order, collapsed = kl_order([0.5, 0.001, 3.0, 0.2])
    assert order == [2, 0, 3, 1] and collapsed == [False, False, False, True]


def test_traversal_grid_changes_one_dimension_per_row():
    center = torch.tensor([1.0, 2.0, 3.0])
    values = torch.tensor([-1.0, 0.0, 1.0])
    grid = traversal_grid(center, [2, 0], values)
    assert grid.shape == (2, 3, 3)
    torch.testing.assert_close(grid[0, :, 2], values)
    torch.testing.assert_close(grid[0, :, :2], center[:2].expand(3, 2))
    torch.testing.assert_close(grid[1, :, 0], values)


def test_prior_samples_are_seeded_and_scaled():
    a, b = sample_prior(20_000, 4, 0.5, seed=1), sample_prior(20_000, 4, 0.5, seed=1)
    assert torch.equal(a, b)
    assert abs(a.std().item() - 0.5) < 0.01


def test_factor_dims_order_matches_anova_f():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=600)
    mu = rng.standard_normal((600, 6))
    mu[:, 4] += 2.0 * labels  # strongly explained
    mu[:, 1] += 0.5 * labels  # weakly explained
    ours = factor_dims(mu, labels)
    f, _ = f_classif(mu, labels)  # F is monotone in eta^2 for fixed n and classes
    assert ours == [int(i) for i in np.argsort(-f, kind="stable")]
    assert ours[:2] == [4, 1] and factor_dims(mu, labels, 1) == [4]


def test_swap_takes_only_the_named_dims():
    a, b = torch.zeros(5), torch.arange(5.0)
    assert swap(a, b, [1, 3]).tolist() == [0.0, 1.0, 0.0, 3.0, 0.0]


def test_shared_gain_only_attenuates_and_keeps_ratios():
    loud = torch.tensor([[0.0, 2.0, -1.0], [0.0, 0.5, 0.0]])
    scaled, gain = shared_gain(loud, peak=0.9)
    assert gain == pytest.approx(0.45) and scaled.abs().max() == pytest.approx(0.9)
    torch.testing.assert_close(scaled[1] / scaled[0, 1], loud[1] / loud[0, 1])
    quiet = torch.tensor([0.1, -0.2])
    assert torch.equal(shared_gain(quiet)[0], quiet)
    assert torch.equal(shared_gain(torch.tensor([float("nan"), 0.5]))[0], torch.tensor([0.0, 0.5]))


def test_crossfade_concat_length_and_continuity():
    waves = torch.ones(3, 100)
    out = crossfade_concat(waves, 10)
    assert out.shape == (280,)
    torch.testing.assert_close(out, torch.ones(280))

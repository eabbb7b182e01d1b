"""UDR on constructed codes: a shared disentangled code ranks above rotated (entangled) ones."""

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from audiovae.metrics.udr import udr_pair, udr_scores


def _factors(n=2000, k=4, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, k))


def test_permuted_and_rescaled_copies_score_one():
    f = _factors()
    rng = np.random.default_rng(1)
    a = f + 0.01 * rng.standard_normal(f.shape)
    b = -3 * f[:, [2, 0, 3, 1]] + 0.01 * rng.standard_normal(f.shape)  # same code, other order/sign
    keep = np.ones(4, bool)
    # not exactly 1: the 12 off-diagonal |rho| of independent columns are ~0.02 each on 2000 rows
    assert udr_pair(a, b, keep, keep) > 0.9


def test_hand_worked_tables():
    # a1 = ranks 1..4 and a2 = (2, 4, 1, 3) have Spearman rho exactly 0 (sum d^2 = 10)
    a = np.array([[1, 2], [2, 4], [3, 1], [4, 3]], dtype=float)
    keep = np.ones(2, bool)
    assert udr_pair(a, a, keep, keep) == pytest.approx(1.0)  # R = identity
    # b = (a1, a1): R = [[1, 1], [0, 0]]; columns give 1 + 1, rows 1/2 + 0; (2.5) / (2 + 2)
    b = a[:, [0, 0]]
    assert udr_pair(a, b, keep, keep) == pytest.approx(0.625)


def test_shared_code_ranks_above_rotated_codes():
    f = _factors(seed=3)
    rng = np.random.default_rng(4)
    disentangled = [
        f[:, rng.permutation(4)] + 0.02 * rng.standard_normal(f.shape) for _ in range(3)
    ]
    rotated = [f @ special_ortho_group.rvs(4, random_state=s) for s in (5, 6, 7)]
    kl = [np.ones(4)] * 3
    good, _ = udr_scores(disentangled, kl)
    bad, details = udr_scores(rotated, kl)
    assert good.min() > 0.9 and bad.max() < 0.75 and good.min() > bad.max()
    assert len(details["pairwise"]) == 3


def test_uninformative_dims_are_ignored_and_errors():
    f = _factors(seed=8)
    noise = np.random.default_rng(9).standard_normal((f.shape[0], 2))
    a = np.concatenate([f, noise], axis=1)
    keep = np.array([True] * 4 + [False] * 2)
    assert udr_pair(a, a, keep, keep) == pytest.approx(udr_pair(f, f, keep[:4], keep[:4]))
    assert udr_pair(a, a, np.zeros(6, bool), keep) == 0.0
    with pytest.raises(ValueError, match="at least 2 models"):
        udr_scores([a], [np.ones(6)])


def test_one_informative_dimension_per_model_is_the_absolute_spearman_rho():
    """Each model with one informative dimension: R is 1x1, so UDR = (r^2/r + r^2/r) / 2 = |rho|.
    (scipy's spearmanr returns a scalar, not a matrix, for two columns.)"""
    rng = np.random.default_rng(10)
    z = rng.normal(size=(100, 4))
    kl = np.array([1.0, 0.0, 0.0, 0.0])
    scores, details = udr_scores([z, z], [kl, kl])
    np.testing.assert_allclose(scores, [1.0, 1.0], atol=1e-9)
    # a monotone transform of the informative dimension keeps |rho| = 1
    w = rng.normal(size=(100, 4))
    w[:, 0] = -2.0 * z[:, 0] ** 3
    assert udr_pair(z, w, kl > 0.01, kl > 0.01) == pytest.approx(1.0, abs=1e-9)
    # otherwise |rho| is Pearson's r of the ranks, computed here from the definition
    v = 0.5 * z[:, 0] + rng.normal(size=100)
    rank_a = np.argsort(np.argsort(z[:, 0])).astype(float)
    rank_b = np.argsort(np.argsort(v)).astype(float)
    rho = np.sum((rank_a - rank_a.mean()) * (rank_b - rank_b.mean())) / (
        np.sqrt(np.sum((rank_a - rank_a.mean()) ** 2) * np.sum((rank_b - rank_b.mean()) ** 2))
    )
    w[:, 0] = v
    assert 0.2 < abs(rho) < 0.8
    assert udr_pair(z, w, kl > 0.01, kl > 0.01) == pytest.approx(abs(rho), abs=1e-9)
    assert len(details["pairwise"]) == 2

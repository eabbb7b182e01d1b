"""Disentanglement metrics on constructed codes, checked against hand and scikit-learn/scipy
computations: a code that copies each factor scores near 1, a mixing rotation of it and pure noise
score low (or at chance)."""

import math

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import mutual_info_score

from audiovae.metrics import (
    beta_vae_points,
    beta_vae_score,
    dci,
    dci_importance_matrix,
    discrete_entropy,
    discrete_mutual_info,
    equal_width_bins,
    factor_vae_score,
    mutual_info_gap,
    sap_score,
)

CARDINALITIES = (3, 4, 5, 6)
CHANCE = 1 / len(CARDINALITIES)  # FactorVAE and beta-VAE scores: factors are fixed equally often
# An orthogonal matrix whose every entry is +-1/2: each rotated dimension mixes all four factors.
MIXING = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0


@pytest.fixture(scope="module")
def constructed():
    rng = np.random.default_rng(0)
    n = 1500
    factors = np.stack([rng.integers(0, c, n) for c in CARDINALITIES], axis=1)
    copy = (factors - factors.mean(0)) / factors.std(0) + 0.01 * rng.normal(size=factors.shape)
    assert np.allclose(MIXING @ MIXING.T, np.eye(4))
    codes = {"copy": copy, "rotated": copy @ MIXING, "noise": rng.normal(size=copy.shape)}
    return factors, codes


@pytest.fixture(scope="module")
def scores(constructed):
    factors, codes = constructed
    out = {}
    for name, z in codes.items():
        out[name] = {
            "mig": mutual_info_gap(z, factors)[0],
            "sap": sap_score(z, factors, 0)[0],
            "dci": dci(z, factors, 0)[0],
            "factor_vae": factor_vae_score(z, factors, 0)[0],
            "beta_vae": beta_vae_score(z, factors, 0)[0],
        }
    return out


# ---------------------------------------------------------------- discrete information


def test_mutual_info_of_a_hand_worked_2x2_table():
    # counts [[3, 1], [1, 3]] of 8: p(a, b) = 3/8 on the diagonal, 1/8 off it, marginals 1/2
    x = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    by_hand = 2 * (3 / 8) * math.log((3 / 8) / (1 / 4)) + 2 * (1 / 8) * math.log((1 / 8) / (1 / 4))
    assert by_hand == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert discrete_mutual_info(x, y) == pytest.approx(by_hand, abs=1e-12)
    # independent: the table [[1, 1], [1, 1]] factorises
    assert discrete_mutual_info(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])) == 0.0


def test_mutual_info_matches_sklearn_on_arbitrary_labels():
    rng = np.random.default_rng(1)
    x = rng.choice([-3, 7, 11, 40], size=500)
    y = np.where(rng.random(500) < 0.6, x % 3, rng.integers(0, 5, 500)) + 100
    assert discrete_mutual_info(x, y) == pytest.approx(mutual_info_score(x, y), abs=1e-12)
    assert discrete_mutual_info(x, x) == pytest.approx(discrete_entropy(x), abs=1e-12)
    _, counts = np.unique(x, return_counts=True)
    assert discrete_entropy(x) == pytest.approx(scipy_entropy(counts), abs=1e-12)
    assert discrete_entropy(np.array([5, 9])) == pytest.approx(math.log(2))


def test_equal_width_bins_by_hand_and_as_disentanglement_lib_digitises():
    codes = np.array([[0.0, 2.0], [0.49, 2.0], [0.5, 2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(equal_width_bins(codes, 2), [[0, 0], [0, 0], [1, 0], [1, 0]])
    x = np.random.default_rng(2).normal(size=(300, 3))
    expected = np.stack(
        [np.digitize(c, np.histogram(c, 20)[1][:-1]) - 1 for c in x.T], axis=1
    )  # disentanglement_lib's histogram_discretize, shifted to start at 0
    np.testing.assert_array_equal(equal_width_bins(x, 20), expected)


# ---------------------------------------------------------------- MIG


def test_mig_copy_near_one_rotation_and_noise_low(scores):
    assert scores["copy"]["mig"] > 0.95
    assert scores["rotated"]["mig"] < scores["copy"]["mig"] - 0.5
    assert scores["noise"]["mig"] < 0.05


def test_mig_matches_an_independent_computation(constructed):
    factors, codes = constructed
    angle = math.radians(30)
    z = codes["copy"].copy()
    z[:, :2] = z[:, :2] @ np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    binned = [np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in z.T]
    gaps = []
    for v in factors.T:
        mi = sorted((mutual_info_score(b, v) for b in binned), reverse=True)
        gaps.append((mi[0] - mi[1]) / mutual_info_score(v, v))
    score, details = mutual_info_gap(z, factors)
    assert score == pytest.approx(np.mean(gaps), abs=1e-10)
    assert 0.1 < score < 0.95  # a partial rotation: in between
    assert details["estimator"]["n_bins"] == 20
    assert np.asarray(details["mutual_info"]).shape == (4, 4)


def test_mig_with_as_many_bins_as_values_reaches_one_on_a_24_valued_copy():
    """v0 takes 24 equally spaced values (10 rows each) and z0 copies it; v1 is binary, copied by
    z1. 20 equal-width bins over z0 put value i in bin floor(20 i / 23) (23 -> the last bin), so 16
    bins hold one value and bins 0, 6, 13, 19 two: I(z0; v0) = H(bin) = (16/24) log 24 +
    (8/24) log 12 nats, while z1 carries nothing of v0. With 24 bins each value has its own bin and
    v0's gap is log 24 / log 24 = 1."""
    v0 = np.repeat(np.arange(24), 10)
    v1 = np.tile([0, 1], 120)
    factors = np.stack([v0, v1], 1)
    codes = factors.astype(float)
    h_bins = (16 / 24) * math.log(24) + (8 / 24) * math.log(12)
    score_20, details = mutual_info_gap(codes, factors)
    assert details["per_factor"][0] == pytest.approx(h_bins / math.log(24), abs=1e-12)
    assert details["per_factor"][0] < math.log(20) / math.log(24)
    assert score_20 == pytest.approx((h_bins / math.log(24) + 1) / 2, abs=1e-12)
    score, details = mutual_info_gap(codes, factors, n_bins="values")
    assert score == pytest.approx(1.0, abs=1e-12)
    assert details["bins_per_factor"] == [24, 2] and details["estimator"]["n_bins"] == "values"
    with pytest.raises(ValueError, match='"values"'):
        mutual_info_gap(codes, factors, n_bins="auto")


def test_single_valued_factors_are_skipped(constructed):
    factors, codes = constructed
    with_constant = np.concatenate(
        [factors[:, :1], np.full((len(factors), 1), 7), factors[:, 1:]], 1
    )
    score, details = mutual_info_gap(codes["copy"], with_constant)
    assert score == pytest.approx(mutual_info_gap(codes["copy"], factors)[0])
    assert details["skipped_factors"] == [1]
    assert details["factors"] == [0, 2, 3, 4]


# ---------------------------------------------------------------- SAP


def test_sap_copy_high_noise_near_zero(scores):
    assert scores["copy"]["sap"] > 0.6
    assert scores["noise"]["sap"] < 0.05
    assert scores["rotated"]["sap"] < 0.2


def test_sap_of_a_hand_worked_code():
    """Two balanced binary factors. z0 copies v0, z1 copies v1, z2 copies v0 with 10% of rows
    flipped. A one-dimension classifier reads v0 off z0 (accuracy 1) and off z2 (0.9), v1 off z1
    (1); any other pairing is independent (0.5). SAP = mean(1 - 0.9, 1 - 0.5) = 0.3."""
    rng = np.random.default_rng(3)
    factors = np.stack(np.meshgrid([0, 1], [0, 1], indexing="ij"), -1).reshape(-1, 2)
    factors = np.repeat(factors, 500, axis=0)
    flip = np.zeros(len(factors), bool)
    flip[rng.permutation(len(factors))[: len(factors) // 10]] = True
    codes = np.stack(
        [factors[:, 0], factors[:, 1], np.where(flip, 1 - factors[:, 0], factors[:, 0])], 1
    )
    score, _ = sap_score(codes.astype(float), factors, 4)
    # sampling noise: test accuracies of 600 rows have sd <= 0.02
    assert score == pytest.approx(0.3, abs=0.04)


# ---------------------------------------------------------------- DCI


def test_dci_copy_near_one_rotation_and_noise_low(scores):
    copy, rotated, noise = scores["copy"]["dci"], scores["rotated"]["dci"], scores["noise"]["dci"]
    assert copy["disentanglement"] > 0.9 and copy["completeness"] > 0.9
    assert copy["informativeness"] > 0.95
    assert rotated["disentanglement"] < copy["disentanglement"] - 0.5
    assert rotated["informativeness"] > 0.8  # a rotation loses no information
    assert noise["disentanglement"] < 0.1
    assert noise["informativeness"] < 0.4


def test_dci_importance_matrix_is_sklearn_feature_importances(constructed):
    factors, codes = constructed
    z = codes["rotated"]
    importance, _, test_acc = dci_importance_matrix(
        z[:1000], factors[:1000], z[1000:], factors[1000:], n_estimators=5, random_state=4
    )
    for k in range(factors.shape[1]):
        forest = RandomForestClassifier(n_estimators=5, max_features=None, random_state=4)
        forest.fit(z[:1000], factors[:1000, k])
        np.testing.assert_allclose(importance[:, k], forest.feature_importances_, atol=1e-12)
        assert test_acc[k] == pytest.approx(forest.score(z[1000:], factors[1000:, k]))


def test_dci_gradient_boosting_is_disentanglement_libs_estimator(constructed):
    factors, codes = constructed
    z = codes["rotated"][:600]
    importance, train_acc, test_acc = dci_importance_matrix(
        z[:400], factors[:400], z[400:], factors[400:600], estimator="gradient_boosting",
        n_estimators=10, random_state=4,
    )  # fmt: skip
    for k in range(factors.shape[1]):
        model = GradientBoostingClassifier(n_estimators=10, random_state=4)
        model.fit(z[:400], factors[:400, k])
        np.testing.assert_allclose(importance[:, k], model.feature_importances_, atol=1e-12)
        assert train_acc[k] == pytest.approx(np.mean(model.predict(z[:400]) == factors[:400, k]))
        assert test_acc[k] == pytest.approx(np.mean(model.predict(z[400:]) == factors[400:600, k]))
    result, details = dci(codes["copy"][:600], factors[:600], 0, estimator="gradient_boosting",
                          n_estimators=10)  # fmt: skip
    assert details["estimator"]["classifier"] == "gradient_boosting"
    assert result["disentanglement"] > 0.9
    with pytest.raises(ValueError, match="must be one of"):
        dci(z, factors[:600], 0, estimator="svm")
    with pytest.raises(ValueError, match="max_depth applies to the random forest"):
        dci(z, factors[:600], 0, estimator="gradient_boosting", max_depth=5)


def test_dci_scores_follow_from_the_importance_matrix(constructed):
    factors, codes = constructed
    angle = math.radians(30)
    z = codes["copy"].copy()
    z[:, 2:] = z[:, 2:] @ np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    result, details = dci(z, factors, np.random.default_rng(5), n_estimators=10)
    r = np.asarray(details["importance"])
    assert r.shape == (4, 4)
    per_code = 1 - scipy_entropy(r.T, base=4)  # scipy normalises each column of its input
    rho = r.sum(1) / r.sum()
    assert result["disentanglement"] == pytest.approx(np.sum(rho * per_code), abs=1e-10)
    assert result["completeness"] == pytest.approx(np.mean(1 - scipy_entropy(r, base=4)), abs=1e-10)
    assert result["informativeness"] == pytest.approx(np.mean(details["test_accuracy"]))
    assert 0.2 < result["disentanglement"] < 0.95


# ---------------------------------------------------------------- FactorVAE and beta-VAE scores


def _shared_dimension_code():
    """Four balanced binary factors (the full grid, 20 copies); z0 = v0, z1 = v1, z2 = v2 + v3:
    v0 and v1 each own a dimension, v2 and v3 share one."""
    factors = np.stack(np.meshgrid(*[[0, 1]] * 4, indexing="ij"), -1).reshape(-1, 4)
    factors = np.repeat(factors, 20, axis=0)
    codes = np.stack([factors[:, 0], factors[:, 1], factors[:, 2] + factors[:, 3]], 1)
    return codes.astype(float), factors


def test_factor_vae_score_of_a_hand_worked_code():
    """By hand: after dividing by the standard deviations (1/2, 1/2, 1/sqrt 2), fixing v0 leaves
    z0 variance 0, fixing v1 leaves z1 variance 0, and fixing v2 or v3 leaves z2 variance
    (1/4) / (1/2) = 1/2 against 1 for z0 and z1: every vote goes v0 -> z0, v1 -> z1, v2 -> z2,
    v3 -> z2. The majority vote maps z2 to one of v2, v3, so exactly 3 of 4 factors (balanced
    votes) are classified right: score 0.75 exactly."""
    codes, factors = _shared_dimension_code()
    score, details = factor_vae_score(codes, factors, 0, n_votes=400, n_eval_votes=400)
    assert score == 0.75
    votes = np.asarray(details["votes"])
    np.testing.assert_array_equal(votes, [[100, 0, 0, 0], [0, 100, 0, 0], [0, 0, 100, 100]])


def test_beta_vae_score_of_a_hand_worked_code():
    """By hand: a point that fixes v0 has mean |z1 - z2| exactly 0 in z0, one that fixes v1
    exactly 0 in z1, and points fixing v2 or v3 have the same distribution (|dz2| = |dv3| or
    |dv2|, both Bernoulli(1/2) per pair). The classifier can tell v0 and v1 always and v2 from v3
    at chance: expected score (1 + 1 + 1/2 + 1/2) / 4 = 0.75."""
    codes, factors = _shared_dimension_code()
    score, details = beta_vae_score(codes, factors, 0, n_train=400, n_eval=800)
    # 400 eval points fix v2 or v3, each right with probability 1/2: sd of the score 0.0125
    assert score == pytest.approx(0.75, abs=0.05)
    assert details["estimator"]["fixed_value"].startswith("drawn per pair")


def test_beta_vae_points_fix_the_value_per_pair_not_per_batch():
    """z1 = noise on the rows with v0 = 1 and 0 on the rows with v0 = 0. A point fixing v0 draws
    each pair's shared value afresh, so half its pairs have |dz1| = 0 and half E|n - n'| =
    2 / sqrt(pi): mean 1 / sqrt(pi) = 0.564. (Fixing one value per batch would give 0 or 1.128.)
    A point fixing v1 leaves v0 free: |dz0| is 1 for half the pairs (mean 1/2)."""
    rng = np.random.default_rng(5)
    factors = np.repeat(
        np.stack(np.meshgrid([0, 1], [0, 1], indexing="ij"), -1).reshape(-1, 2), 500, 0
    )
    codes = np.stack([factors[:, 0], factors[:, 0] * rng.normal(size=len(factors))], 1).astype(
        float
    )
    points, labels = beta_vae_points(codes, factors, 400, 64, 6)
    assert sorted(np.unique(labels, return_counts=True)[1]) == [200, 200]
    fix0, fix1 = points[labels == 0], points[labels == 1]
    assert np.all(fix0[:, 0] == 0)
    expected = 1 / math.sqrt(math.pi)
    # each point averages 64 pair terms of sd ~0.82: sd 0.10 per point
    assert fix0[:, 1].min() > expected - 0.45 and fix0[:, 1].max() < expected + 0.45
    assert fix0[:, 1].mean() == pytest.approx(expected, abs=0.03)
    assert fix1[:, 0].mean() == pytest.approx(0.5, abs=0.02)


# ---------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "codes, factors, match",
    [
        (np.zeros((4, 2)), np.zeros((3, 1), dtype=int), "same number of rows"),
        (np.zeros((4, 2)), np.zeros((4, 1)), "integer"),
        (np.full((4, 2), np.nan), np.array([[0], [1], [0], [1]]), "NaN"),
        (np.zeros(4), np.array([[0], [1], [0], [1]]), "2-D"),
        (np.zeros((4, 2)), np.ones((4, 2), dtype=int), "single value"),
    ],
)
def test_bad_inputs_are_rejected_with_what_was_expected(codes, factors, match):
    with pytest.raises(ValueError, match=match):
        mutual_info_gap(codes, factors)

"""Supervised disentanglement metrics: latent codes scored against known discrete factors.

Every metric is a pure function of `codes` ([n, d] floats: the posterior means mu), `factors`
([n, k] integers: the ground-truth value of each factor of variation for each example) and
explicit estimator parameters; a metric that draws samples or fits a randomised estimator also
takes `rng` (a `numpy.random.Generator` or an int seed), so equal arguments give equal results.
Each returns its score (DCI: its three scores) and a JSON-serialisable `details` dict that names
every estimator choice, in the manner of disentanglement_lib (Locatello et al. 2019).

Factors with a single value carry nothing to measure: every metric skips them and lists their
column indices in `details["skipped_factors"]`; `details["factors"]` lists the columns used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "DCI_ESTIMATORS",
    "beta_vae_points",
    "beta_vae_score",
    "dci",
    "dci_importance_matrix",
    "discrete_entropy",
    "discrete_mutual_info",
    "equal_width_bins",
    "factor_vae_score",
    "mutual_info_gap",
    "sap_score",
]

# ---------------------------------------------------------------- input checks and small helpers


def _check_codes_factors(
    codes: np.ndarray, factors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """Validate (codes, factors); return float64 codes, the usable factor columns and their indices
    (columns with more than one value), and the indices of the skipped single-valued columns."""
    codes = np.asarray(codes)
    factors = np.asarray(factors)
    if codes.ndim != 2:
        raise ValueError(f"codes must be a 2-D array [n, d], got shape {codes.shape}")
    if factors.ndim != 2:
        raise ValueError(f"factors must be a 2-D array [n, k], got shape {factors.shape}")
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(
            f"codes and factors must have the same number of rows, got {codes.shape[0]} and "
            f"{factors.shape[0]}"
        )
    if codes.shape[0] < 2 or codes.shape[1] < 1:
        raise ValueError(f"codes must have at least 2 rows and 1 column, got shape {codes.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(
            f"factors must hold discrete integer values, got dtype {factors.dtype} "
            "(encode string labels as integers first)"
        )
    if not np.issubdtype(codes.dtype, np.number) or np.iscomplexobj(codes):
        raise ValueError(f"codes must hold real numbers, got dtype {codes.dtype}")
    codes = codes.astype(np.float64)
    if not np.all(np.isfinite(codes)):
        raise ValueError("codes contain NaN or Inf")
    kept = [k for k in range(factors.shape[1]) if np.unique(factors[:, k]).size > 1]
    skipped = [k for k in range(factors.shape[1]) if k not in kept]
    if not kept:
        raise ValueError("every factor has a single value; there is nothing to measure")
    return codes, factors[:, kept], kept, skipped


def _generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")


def _seed_for_sklearn(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _split(n: int, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random train/test row indices, with at least one row on each side."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = rng.permutation(n)
    n_test = min(n - 1, max(1, round(n * test_fraction)))
    return order[n_test:], order[:n_test]


def _normalised_entropy(weights: np.ndarray, base: int) -> np.ndarray:
    """Entropy (log base `base`) of each row of non-negative `weights`, normalised to sum 1.

    A row that sums to zero gets entropy 1 (nothing is known about it, so it scores 0)."""
    weights = np.asarray(weights, dtype=np.float64)
    totals = weights.sum(axis=1, keepdims=True)
    out = np.ones(weights.shape[0])
    has_mass = totals[:, 0] > 0
    p = weights[has_mass] / totals[has_mass]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    out[has_mass] = -terms.sum(axis=1) / np.log(base)
    return out


def _repeated_value_groups(column: np.ndarray) -> list[np.ndarray]:
    """Row indices of each value of one factor that occurs at least twice."""
    _, inverse, counts = np.unique(column, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.cumsum(counts)[:-1])
    return [g for g in groups if g.size >= 2]


def _balanced_labels(n: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """n factor indices, each factor as often as possible, in random order."""
    return rng.permutation(np.arange(n) % n_classes)


def _pick_group(groups: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One value's row group, chosen with probability proportional to its size (as if the fixed
    value were read off a random example)."""
    sizes = np.array([g.size for g in groups], dtype=np.float64)
    return groups[rng.choice(len(groups), p=sizes / sizes.sum())]


# ---------------------------------------------------------------- MIG


def discrete_mutual_info(x: np.ndarray, y: np.ndarray) -> float:
    """Plug-in mutual information I(x; y) in nats of two discrete 1-D label arrays, computed from
    their contingency table: sum_ab p(a, b) log(p(a, b) / (p(a) p(b)))."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise ValueError(
            f"x and y must be non-empty 1-D arrays of equal length, got {x.shape} and {y.shape}"
        )
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    nx, ny = int(xi.max()) + 1, int(yi.max()) + 1
    joint = np.bincount(xi * ny + yi, minlength=nx * ny).reshape(nx, ny) / x.size
    px = joint.sum(axis=1, keepdims=True)
    py = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    mi = float(np.sum(joint[nz] * np.log(joint[nz] / (px * py)[nz])))
    return max(mi, 0.0)


def discrete_entropy(x: np.ndarray) -> float:
    """Plug-in Shannon entropy H(x) in nats of a discrete 1-D label array."""
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D array, got shape {x.shape}")
    _, counts = np.unique(x, return_counts=True)
    p = counts / x.size
    return float(-np.sum(p * np.log(p)))


def equal_width_bins(codes: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Discretise each column of `codes` [n, d] into `n_bins` equal-width bins spanning that
    column's range (the disentanglement_lib convention for MIG); returns indices in [0, n_bins).

    The top edge belongs to the last bin, as in `np.histogram`; a constant column is all bin 0."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be a 2-D array [n, d], got shape {codes.shape}")
    if int(n_bins) != n_bins or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins}")
    lo = codes.min(axis=0)
    width = codes.max(axis=0) - lo
    scale = np.where(width > 0, width, 1.0)
    bins = np.floor((codes - lo) / scale * n_bins).astype(np.int64)
    return np.clip(bins, 0, int(n_bins) - 1)


def mutual_info_gap(
    codes: np.ndarray, factors: np.ndarray, n_bins: int | str = 20
) -> tuple[float, dict[str, Any]]:
    """Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

    Each code dimension is cut into `n_bins` equal-width bins; for each factor v_k the gap between
    the largest and second-largest I(z_j; v_k) over code dimensions, divided by H(v_k), is averaged
    over factors. 1: every factor lives in one dimension alone; 0: no dimension stands out.

    `n_bins="values"` cuts the codes into as many bins as each factor has values, for that factor:
    with a fixed number of bins B, I(z_j; v_k) <= log B, so a factor with more than B equally
    frequent values cannot reach 1 (20 bins cap a 24-valued factor at log 20 / log 24 = 0.94)."""
    codes, factors, kept, skipped = _check_codes_factors(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions, got {codes.shape[1]}")
    d, k = codes.shape[1], factors.shape[1]
    if n_bins == "values":
        bins_per_factor = [int(np.unique(factors[:, f]).size) for f in range(k)]
    elif isinstance(n_bins, (int, np.integer)) and not isinstance(n_bins, bool):
        bins_per_factor = [int(n_bins)] * k
    else:
        raise ValueError(f'n_bins must be an integer >= 2 or "values", got {n_bins!r}')
    binned = {b: equal_width_bins(codes, b) for b in sorted(set(bins_per_factor))}
    mi = np.array(
        [
            [
                discrete_mutual_info(binned[bins_per_factor[f]][:, j], factors[:, f])
                for f in range(k)
            ]
            for j in range(d)
        ]
    )
    entropy = np.array([discrete_entropy(factors[:, f]) for f in range(k)])
    top = -np.sort(-mi, axis=0)
    gaps = (top[0] - top[1]) / entropy
    details = {
        "metric": "mig",
        "estimator": {
            "discretisation": "equal-width bins over each code dimension's range",
            "n_bins": n_bins if n_bins == "values" else int(n_bins),
            "mutual_info": "plug-in, from the contingency table, nats",
            "normaliser": "factor entropy H(v_k)",
        },
        "factors": kept,
        "skipped_factors": skipped,
        "bins_per_factor": bins_per_factor,
        "per_factor": gaps.tolist(),
        "mutual_info": mi.tolist(),
        "factor_entropy": entropy.tolist(),
    }
    return float(np.mean(gaps)), details


# ---------------------------------------------------------------- SAP


def sap_score(
    codes: np.ndarray,
    factors: np.ndarray,
    rng: np.random.Generator | int,
    *,
    test_fraction: float = 0.3,
    C: float = 1.0,
    max_iter: int = 500,
) -> tuple[float, dict[str, Any]]:
    """Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of
    Disentangled Latent Concepts from Unlabeled Observations").

    For every (code dimension, factor) pair a classifier that sees that one dimension is fitted on
    a random train split and scored by test accuracy; per factor the gap between the best and
    second-best dimension is averaged over factors. The classifier is a multinomial logistic
    regression on the standardised dimension (inverse regularisation `C`): unlike a one-vs-rest
    linear SVM it can cut the line into one interval per class, so a factor with many ordered
    values copied into one dimension is predicted well."""
    codes, factors, kept, skipped = _check_codes_factors(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError(f"SAP needs at least 2 code dimensions, got {codes.shape[1]}")
    gen = _generator(rng)
    train, test = _split(codes.shape[0], test_fraction, gen)
    mean = codes[train].mean(axis=0)
    std = codes[train].std(axis=0)
    z = (codes - mean) / np.where(std > 0, std, 1.0)
    d, k = codes.shape[1], factors.shape[1]
    accuracy = np.zeros((d, k))
    for f in range(k):
        y_train, y_test = factors[train, f], factors[test, f]
        for j in range(d):
            if np.unique(y_train).size < 2 or std[j] == 0:
                values, counts = np.unique(y_train, return_counts=True)
                accuracy[j, f] = float(np.mean(y_test == values[np.argmax(counts)]))
                continue
            clf = LogisticRegression(C=C, max_iter=max_iter)
            clf.fit(z[train, j : j + 1], y_train)
            accuracy[j, f] = clf.score(z[test, j : j + 1], y_test)
    top = -np.sort(-accuracy, axis=0)
    gaps = top[0] - top[1]
    details = {
        "metric": "sap",
        "estimator": {
            "classifier": "multinomial logistic regression on one standardised code dimension",
            "C": float(C),
            "score": "test accuracy",
            "test_fraction": float(test_fraction),
            "degenerate_cases": "constant dimension or single-class train split: majority class",
        },
        "factors": kept,
        "skipped_factors": skipped,
        "per_factor": gaps.tolist(),
        "accuracy": accuracy.tolist(),
    }
    return float(np.mean(gaps)), details


# ---------------------------------------------------------------- DCI


DCI_ESTIMATORS = ("random_forest", "gradient_boosting")


def _dci_classifier(estimator: str, n_estimators: int | None, max_depth: int | None, seed: int):
    """The per-factor classifier whose feature importances make DCI's importance matrix."""
    if estimator == "random_forest":
        return RandomForestClassifier(
            n_estimators=30 if n_estimators is None else n_estimators,
            max_depth=max_depth,
            max_features=None,
            random_state=seed,
            n_jobs=1,
        )
    if estimator == "gradient_boosting":
        if max_depth is not None:
            raise ValueError(
                "max_depth applies to the random forest; gradient boosting keeps scikit-learn's "
                "default (depth 3), as disentanglement_lib does"
            )
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(
            n_estimators=100 if n_estimators is None else n_estimators, random_state=seed
        )
    raise ValueError(f"DCI estimator must be one of {list(DCI_ESTIMATORS)}, got {estimator!r}")


def dci_importance_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    estimator: str = "random_forest",
    n_estimators: int | None = None,
    max_depth: int | None = None,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Importance matrix R [d, k] of Eastwood and Williams 2018 ("A Framework for the Quantitative
    Evaluation of Disentangled Representations"), with per-factor train and test accuracies.

    Column k is the impurity-based `feature_importances_` of a classifier that predicts factor k
    from all codes: `estimator="random_forest"` (default; `n_estimators` trees, default 30, every
    feature considered at each split, `max_depth`) or `"gradient_boosting"` (scikit-learn's
    `GradientBoostingClassifier` with its defaults, 100 stages of depth 3: disentanglement_lib's
    estimator, whose importances concentrate more, so its disentanglement comes out higher)."""
    train_codes = np.asarray(train_codes, dtype=np.float64)
    test_codes = np.asarray(test_codes, dtype=np.float64)
    train_factors = np.asarray(train_factors)
    test_factors = np.asarray(test_factors)
    for name, c, f in (("train", train_codes, train_factors), ("test", test_codes, test_factors)):
        if c.ndim != 2 or f.ndim != 2 or c.shape[0] != f.shape[0] or c.shape[0] == 0:
            raise ValueError(
                f"{name} codes and factors must be 2-D with the same (non-zero) number of rows, "
                f"got shapes {c.shape} and {f.shape}"
            )
    if (
        train_codes.shape[1] != test_codes.shape[1]
        or train_factors.shape[1] != test_factors.shape[1]
    ):
        raise ValueError("train and test arrays must have the same number of columns")
    d, k = train_codes.shape[1], train_factors.shape[1]
    importance = np.zeros((d, k))
    train_acc = np.zeros(k)
    test_acc = np.zeros(k)
    for f in range(k):
        model = _dci_classifier(estimator, n_estimators, max_depth, random_state)
        model.fit(train_codes, train_factors[:, f])
        importance[:, f] = np.abs(model.feature_importances_)
        train_acc[f] = model.score(train_codes, train_factors[:, f])
        test_acc[f] = model.score(test_codes, test_factors[:, f])
    return importance, train_acc, test_acc


def dci(
    codes: np.ndarray,
    factors: np.ndarray,
    rng: np.random.Generator | int,
    *,
    test_fraction: float = 0.3,
    estimator: str = "random_forest",
    n_estimators: int | None = None,
    max_depth: int | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """DCI disentanglement, completeness and informativeness (Eastwood and Williams 2018).

    From the importance matrix R [d, k] (`dci_importance_matrix`, fitted on a random train split
    with `estimator`: "random_forest" or disentanglement_lib's "gradient_boosting"):
    disentanglement = sum_j rho_j (1 - H_k(R_j. / sum R_j.)) with rho_j = sum R_j. / sum R;
    completeness = mean over factors of (1 - H_d(R_.k / sum R_.k)); informativeness = mean test
    accuracy of the per-factor classifiers. Entropies use log base k (resp. d), so each score is in
    [0, 1]; with a single factor, disentanglement is undefined and reported as NaN."""
    codes, factors, kept, skipped = _check_codes_factors(codes, factors)
    if estimator not in DCI_ESTIMATORS:
        raise ValueError(f"DCI estimator must be one of {list(DCI_ESTIMATORS)}, got {estimator!r}")
    gen = _generator(rng)
    train, test = _split(codes.shape[0], test_fraction, gen)
    importance, train_acc, test_acc = dci_importance_matrix(
        codes[train],
        factors[train],
        codes[test],
        factors[test],
        estimator=estimator,
        n_estimators=n_estimators,
        max_depth=max_depth,
        random_state=_seed_for_sklearn(gen),
    )
    d, k = importance.shape
    total = importance.sum()
    if k < 2:
        per_code = np.full(d, np.nan)
        disentanglement = float("nan")
    else:
        per_code = 1.0 - _normalised_entropy(importance, base=k)
        rho = importance.sum(axis=1) / total if total > 0 else np.zeros(d)
        disentanglement = float(np.sum(rho * per_code))
    if d < 2:
        per_factor = np.ones(k)  # one code dimension holds everything there is
    else:
        per_factor = 1.0 - _normalised_entropy(importance.T, base=d)
    scores = {
        "disentanglement": disentanglement,
        "completeness": float(np.mean(per_factor)),
        "informativeness": float(np.mean(test_acc)),
    }
    forest = estimator == "random_forest"
    details = {
        "metric": "dci",
        "estimator": {
            "importance": "random forest impurity importances, every feature at each split"
            if forest
            else "gradient boosting impurity importances (disentanglement_lib's estimator)",
            "classifier": estimator,
            "n_estimators": int(n_estimators or (30 if forest else 100)),
            "max_depth": max_depth if forest else 3,
            "informativeness": "mean test accuracy of the per-factor classifiers",
            "completeness_average": "unweighted mean over factors",
            "test_fraction": float(test_fraction),
        },
        "factors": kept,
        "skipped_factors": skipped,
        "importance": importance.tolist(),
        "disentanglement_per_code": per_code.tolist(),
        "completeness_per_factor": per_factor.tolist(),
        "train_accuracy": train_acc.tolist(),
        "test_accuracy": test_acc.tolist(),
    }
    return scores, details


# ---------------------------------------------------------------- FactorVAE score


def factor_vae_score(
    codes: np.ndarray,
    factors: np.ndarray,
    rng: np.random.Generator | int,
    *,
    n_votes: int = 800,
    n_eval_votes: int = 800,
    batch_size: int = 64,
    collapse_threshold: float = 0.05,
) -> tuple[float, dict[str, Any]]:
    """FactorVAE disentanglement score (Kim and Mnih 2018, "Disentangling by Factorising").

    Codes are divided by their standard deviation over all rows; dimensions whose standard
    deviation is below `collapse_threshold` are dropped as collapsed. A vote fixes one factor
    (factors taken in turn, in random order), picks one of its values with probability
    proportional to its frequency, draws `batch_size` rows with that value, and votes
    (argmin-variance dimension -> factor). A majority-vote classifier fitted on `n_votes` votes is
    scored by its accuracy on `n_eval_votes` fresh votes. Values seen only once cannot fix a
    batch and are never chosen; rows are drawn with replacement only when a value has fewer than
    `batch_size` rows."""
    codes, factors, kept, skipped = _check_codes_factors(codes, factors)
    if n_votes < 1 or n_eval_votes < 1 or batch_size < 2:
        raise ValueError(
            f"need n_votes >= 1, n_eval_votes >= 1 and batch_size >= 2, got {n_votes}, "
            f"{n_eval_votes} and {batch_size}"
        )
    gen = _generator(rng)
    groups = [_repeated_value_groups(factors[:, f]) for f in range(factors.shape[1])]
    usable = [f for f, g in enumerate(groups) if g]
    if not usable:
        raise ValueError("no factor has a value shared by two rows; cannot fix a factor")
    std = codes.std(axis=0)
    active = std >= collapse_threshold
    estimator = {
        "normalisation": "divide by each dimension's standard deviation over all rows",
        "collapse_threshold": float(collapse_threshold),
        "batch_size": int(batch_size),
        "n_votes": int(n_votes),
        "n_eval_votes": int(n_eval_votes),
        "classifier": "majority vote, argmin-variance dimension -> factor",
        "score": "accuracy on fresh votes",
    }
    details = {
        "metric": "factor_vae",
        "estimator": estimator,
        "factors": [kept[f] for f in usable],
        "skipped_factors": skipped + [kept[f] for f in range(len(kept)) if f not in usable],
        "active_dims": np.flatnonzero(active).tolist(),
    }
    if not active.any():
        details.update(train_accuracy=0.0, votes=[])
        return 0.0, details
    z = codes[:, active] / std[active]

    def vote(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = _balanced_labels(n, len(usable), gen)
        dims = np.empty(n, dtype=np.int64)
        for i, label in enumerate(labels):
            group = _pick_group(groups[usable[label]], gen)
            rows = gen.choice(group, size=batch_size, replace=group.size < batch_size)
            dims[i] = int(np.argmin(z[rows].var(axis=0, ddof=1)))
        return dims, labels

    train_dims, train_labels = vote(n_votes)
    votes = np.zeros((z.shape[1], len(usable)), dtype=np.int64)
    np.add.at(votes, (train_dims, train_labels), 1)
    classifier = votes.argmax(axis=1)
    eval_dims, eval_labels = vote(n_eval_votes)
    score = float(np.mean(classifier[eval_dims] == eval_labels))
    details.update(train_accuracy=float(votes.max(axis=1).sum() / n_votes), votes=votes.tolist())
    return score, details


# ---------------------------------------------------------------- beta-VAE score


def _pair_partners(column: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For one factor column: the rows whose value occurs at least twice, and for every row its
    value's rows in a shared `order` (`start`, `size`, `position` of the row in it)."""
    _, inverse, counts = np.unique(column, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(column.size, dtype=np.int64)
    position[order] = np.arange(column.size) - starts[inverse[order]]
    eligible = np.flatnonzero(counts[inverse] >= 2)
    return eligible, order, starts[inverse], np.stack([counts[inverse], position])


def beta_vae_points(
    codes: np.ndarray,
    factors: np.ndarray,
    n: int,
    batch_size: int,
    rng: np.random.Generator | int,
) -> tuple[np.ndarray, np.ndarray]:
    """The beta-VAE score's classifier inputs: `n` points [n, d] and the factor column fixed for
    each (labels [n], factors in turn in random order).

    A point fixes one factor and draws `batch_size` pairs: for each pair a first row uniformly
    among the rows whose value of that factor is shared by another row, and a second, distinct row
    with the same value; the point is the mean |z1 - z2| over the pairs. The fixed value is thus
    drawn afresh for every pair (with probability proportional to its frequency), as in Higgins et
    al. 2017 and disentanglement_lib. Factors with no repeated value are never fixed."""
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    gen = _generator(rng)
    partners = [_pair_partners(factors[:, f]) for f in range(factors.shape[1])]
    usable = [f for f, p in enumerate(partners) if p[0].size]
    if not usable:
        raise ValueError("no factor has a value shared by two rows; cannot form a pair")
    labels = np.asarray(usable)[_balanced_labels(n, len(usable), gen)]
    points = np.empty((n, codes.shape[1]))
    for i, f in enumerate(labels):
        eligible, order, start, (size, position) = partners[f]
        first = eligible[gen.integers(0, eligible.size, size=batch_size)]
        shift = gen.integers(1, size[first])  # 1 .. size - 1: never the first row itself
        second = order[start[first] + (position[first] + shift) % size[first]]
        points[i] = np.abs(codes[first] - codes[second]).mean(axis=0)
    return points, labels


def beta_vae_score(
    codes: np.ndarray,
    factors: np.ndarray,
    rng: np.random.Generator | int,
    *,
    n_train: int = 500,
    n_eval: int = 300,
    batch_size: int = 64,
    max_iter: int = 1000,
) -> tuple[float, dict[str, Any]]:
    """beta-VAE disentanglement score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual
    Concepts with a Constrained Variational Framework").

    Each point fixes one factor (factors taken in turn, in random order) and averages |z1 - z2|
    over `batch_size` pairs of distinct rows that share that factor's value, the value drawn anew
    for each pair (`beta_vae_points`); a logistic regression on standardised points predicts
    which factor was fixed. Score: its accuracy on `n_eval` fresh points (fitted on `n_train`)."""
    codes, factors, kept, skipped = _check_codes_factors(codes, factors)
    if n_train < 2 or n_eval < 1 or batch_size < 1:
        raise ValueError(
            f"need n_train >= 2, n_eval >= 1 and batch_size >= 1, got {n_train}, {n_eval} and "
            f"{batch_size}"
        )
    gen = _generator(rng)
    usable = [f for f in range(factors.shape[1]) if _repeated_value_groups(factors[:, f])]
    if len(usable) < 2:
        raise ValueError("the beta-VAE score needs at least 2 factors with a repeated value")
    x_train, y_train = beta_vae_points(codes, factors[:, usable], n_train, batch_size, gen)
    x_eval, y_eval = beta_vae_points(codes, factors[:, usable], n_eval, batch_size, gen)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    clf.fit(x_train, y_train)
    details = {
        "metric": "beta_vae",
        "estimator": {
            "classifier": "logistic regression on standardised mean |z1 - z2|",
            "fixed_value": "drawn per pair (Higgins et al. 2017, disentanglement_lib)",
            "batch_size": int(batch_size),
            "n_train": int(n_train),
            "n_eval": int(n_eval),
            "score": "accuracy on fresh points",
        },
        "factors": [kept[f] for f in usable],
        "skipped_factors": skipped + [kept[f] for f in range(len(kept)) if f not in usable],
        "train_accuracy": float(clf.score(x_train, y_train)),
    }
    return float(clf.score(x_eval, y_eval)), details

"""Unsupervised Disentanglement Ranking (Duan et al. 2020, "Unsupervised model selection for
variational disentangled representation learning", ICLR): models whose informative latent
dimensions match one to one across seeds score high, with no ground-truth factors needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import spearmanr


def udr_pair(
    codes_a: np.ndarray,
    codes_b: np.ndarray,
    informative_a: np.ndarray,
    informative_b: np.ndarray,
) -> float:
    """UDR of two models' codes [n, d] on the same inputs (Duan et al. 2020, eq. 2).

    R = |Spearman correlation| between every informative dimension of a and of b;
    UDR = (sum_b r_b^2 / sum_a R_ab + sum_a r_a^2 / sum_b R_ab) / (d_a + d_b), with r_a = max_b R_ab
    (and r_b likewise): 1 when the dimensions match one to one, lower when one dimension of a
    correlates with several of b (entangled) or with none. 0 when either has no informative dim.
    """
    a = np.asarray(codes_a, dtype=float)[:, np.asarray(informative_a, dtype=bool)]
    b = np.asarray(codes_b, dtype=float)[:, np.asarray(informative_b, dtype=bool)]
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"codes must be of the same inputs: {a.shape[0]} vs {b.shape[0]} rows")
    d_a, d_b = a.shape[1], b.shape[1]
    if d_a == 0 or d_b == 0:
        return 0.0
    rho = spearmanr(np.concatenate([a, b], axis=1)).statistic
    if np.ndim(rho) == 0:  # two columns in all: scipy returns the one coefficient, not a matrix
        rho = np.array([[1.0, rho], [rho, 1.0]])
    r = np.abs(np.nan_to_num(rho[:d_a, d_a:]))
    eps = 1e-12
    per_b = (r.max(axis=0) ** 2 / (r.sum(axis=0) + eps)).sum()
    per_a = (r.max(axis=1) ** 2 / (r.sum(axis=1) + eps)).sum()
    return float((per_a + per_b) / (d_a + d_b))


def udr_scores(
    codes: list[np.ndarray], kl_per_dim: list[np.ndarray], kl_threshold: float = 0.01
) -> tuple[np.ndarray, dict[str, Any]]:
    """Each model's UDR: the median of its pairwise UDR with every other model (in practice the
    other seeds of the same hyperparameters). A dimension counts as informative when its mean KL
    exceeds `kl_threshold` nats (the paper's I_KL)."""
    if len(codes) < 2:
        raise ValueError("UDR needs at least 2 models (e.g. 2 seeds)")
    informative = [np.asarray(kl) > kl_threshold for kl in kl_per_dim]
    n = len(codes)
    pairs = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i + 1, n):
            pairs[i, j] = pairs[j, i] = udr_pair(codes[i], codes[j], informative[i], informative[j])
    scores = np.array([np.nanmedian(np.delete(pairs[i], i)) for i in range(n)])
    details = {
        "metric": "udr",
        "estimator": f"|Spearman|, informative dims KL > {kl_threshold}, median over pairs",
        "pairwise": pairs.tolist(),
    }
    return scores, details

"""Minibatch estimators of the aggregate posterior q(z), and the KL decomposition built on them.

Chen et al. 2018 ("Isolating sources of disentanglement in variational autoencoders", NeurIPS,
Sec. 3, eq. 2) split the data-averaged KL into three parts, with n the index of a training clip,
q(z) = 1/N sum_n q(z|x_n) the aggregate posterior and q(z_d) its marginals:

    E_n KL(q(z|x_n) || p(z)) = I_q(z; n)                          index-code mutual information
                             + KL(q(z) || prod_d q(z_d))           total correlation
                             + sum_d KL(q(z_d) || p(z_d))          dimension-wise KL

For one sample z_i ~ q(z|x_i) per clip of a minibatch, the per-example terms are
    mi_i = log q(z_i|x_i) - log q(z_i),  tc_i = log q(z_i) - sum_d log q(z_id),
    dwkl_i = sum_d log q(z_id) - log p(z_i),
whose sum telescopes to log q(z_i|x_i) - log p(z_i), the one-sample Monte Carlo KL, whatever
estimator of log q is used. log q(z) has no closed form; the estimators below use the minibatch.

Every estimator takes `log_q_pairs[i, j, ...] = log q(z_i | x_j)` for all pairs of the minibatch
(any trailing shape: the joint density, or one entry per latent dimension for the marginals) and
returns `[M, ...]` estimates of log q(z_i). With `row_offset` the table holds only the rows
row_offset .. row_offset + R - 1 ([R, M, ...]: one process's slice of a global minibatch of M
under data parallelism) and the estimates are those rows of the full table's. These are pure
functions, for training objectives and for evaluation alike.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch

Estimator = Literal["mws", "mss"]
_LOG_2PI = math.log(2 * math.pi)


def log_density_gaussian(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mu, exp(logvar)), normaliser included (shapes broadcast)."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def pairwise_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """`[M, M, D]` table of log q(z_id | x_j): sample i of the batch under posterior j, dim d
    (`[R, M, D]` for R samples z against M posteriors)."""
    return log_density_gaussian(z[:, None, :], mu[None, :, :], logvar[None, :, :])


def _check_sizes(
    log_q_pairs: torch.Tensor, dataset_size: int, row_offset: int | None
) -> tuple[int, int]:
    if row_offset is None:
        if log_q_pairs.dim() < 2 or log_q_pairs.shape[0] != log_q_pairs.shape[1]:
            raise ValueError(
                f"log_q_pairs must be [M, M, ...] (sample i under posterior j), "
                f"got shape {tuple(log_q_pairs.shape)}"
            )
    elif log_q_pairs.dim() < 2 or not 0 <= row_offset <= (
        log_q_pairs.shape[1] - log_q_pairs.shape[0]
    ):
        raise ValueError(
            f"log_q_pairs must be [R, M, ...] for samples row_offset .. row_offset + R - 1 of M, "
            f"got shape {tuple(log_q_pairs.shape)} with row_offset {row_offset}"
        )
    m = log_q_pairs.shape[1]
    if dataset_size < m:
        raise ValueError(f"dataset_size ({dataset_size}) must be >= the minibatch size ({m})")
    return m, dataset_size


def log_qz_mws(
    log_q_pairs: torch.Tensor, dataset_size: int, row_offset: int | None = None
) -> torch.Tensor:
    """Minibatch-weighted sampling (Chen et al. 2018, Sec. 4.1):
    log q(z_i) ~ log sum_j q(z_i|x_j) - log(N M).

    As published this is a lower bound with an offset that depends on the posteriors: for a
    minibatch of distinct clips sum_j q(z_i|x_j) <= N q(z_i), so the estimate is
    <= log q(z_i) - log M; it comes close to that when posteriors are narrow (only the own term
    counts) and falls to log q(z_i) - log N when they all overlap. So MI and TC computed with it
    are shifted (TC by about (D - 1) log N for broad posteriors in D dimensions); prefer
    `log_qz_mss` for values that mean something.
    """
    m, n = _check_sizes(log_q_pairs, dataset_size, row_offset)
    return torch.logsumexp(log_q_pairs, dim=1) - math.log(n * m)


def log_qz_mss(
    log_q_pairs: torch.Tensor, dataset_size: int, row_offset: int | None = None
) -> torch.Tensor:
    """Minibatch-stratified sampling (the idea of Chen et al. 2018, appendix C.2), two strata.

    q(z_i) = 1/N q(z_i|x_i) + 1/N sum_{n != i} q(z_i|x_n): the own clip is one stratum, taken
    exactly; the other M - 1 clips of the batch are a uniform sample without replacement of the
    other N - 1, so (N - 1)/(M - 1) sum_{j != i} q(z_i|x_j) estimates the second sum without bias.
    Weights: 1/N on the diagonal, (N - 1)/(N (M - 1)) elsewhere; exp of the estimate is unbiased for
    q(z_i) (Jensen: the log is slightly low), and exact when the batch is the whole data set.
    (Chen et al.'s released code spreads the N - 1 others over M - 1 strata of unequal size
    instead; both are unbiased for q.) With M = 1 there is no other clip: falls back to MWS.
    """
    m, n = _check_sizes(log_q_pairs, dataset_size, row_offset)
    if m == 1:
        return log_qz_mws(log_q_pairs, dataset_size, row_offset)
    log_w = torch.full((m, m), math.log((n - 1) / (n * (m - 1))), dtype=log_q_pairs.dtype)
    log_w.fill_diagonal_(-math.log(n))
    r = log_q_pairs.shape[0]
    if row_offset is not None:  # the own clip of local row i is global column row_offset + i
        log_w = log_w[row_offset : row_offset + r]
    log_w = log_w.to(log_q_pairs.device).view(r, m, *([1] * (log_q_pairs.dim() - 2)))
    return torch.logsumexp(log_q_pairs + log_w, dim=1)


ESTIMATORS = {"mws": log_qz_mws, "mss": log_qz_mss}


class KLDecomposition(NamedTuple):
    """Per-example terms `[M]` of Chen et al.'s decomposition; they sum to the one-sample MC KL."""

    mi: torch.Tensor
    tc: torch.Tensor
    dwkl: torch.Tensor


def decompose_kl(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    dataset_size: int,
    estimator: Estimator = "mss",
    *,
    rows: slice | None = None,
) -> KLDecomposition:
    """Index-code MI, total correlation and dimension-wise KL of a minibatch (Chen et al. 2018,
    eq. 2), for z [M, D] drawn from N(mu, exp(logvar)) [M, D] and a standard normal prior.

    `rows` (a contiguous slice, e.g. one process's part of a gathered global batch): the terms of
    those examples only, each still estimated with the whole minibatch of M."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {estimator!r}")
    if not z.shape == mu.shape == logvar.shape or z.dim() != 2:
        raise ValueError(
            f"z, mu and logvar must all be [batch, latent_dim], got "
            f"{tuple(z.shape)}, {tuple(mu.shape)}, {tuple(logvar.shape)}"
        )
    log_qz_of = ESTIMATORS[estimator]
    offset = None
    if rows is not None:
        start, stop, stride = rows.indices(z.shape[0])
        if stride != 1 or stop <= start:
            raise ValueError(f"rows must be a non-empty contiguous slice of {z.shape[0]}: {rows}")
        z, mu_i, logvar_i, offset = z[start:stop], mu[start:stop], logvar[start:stop], start
    else:
        mu_i, logvar_i = mu, logvar
    pairs = pairwise_log_density(z, mu, logvar)  # [M, M, D] ([R, M, D] with rows)
    log_qz_given_x = log_density_gaussian(z, mu_i, logvar_i).sum(dim=1)
    log_pz = log_density_gaussian(z, torch.zeros_like(z), torch.zeros_like(z)).sum(dim=1)
    log_qz = log_qz_of(pairs.sum(dim=2), dataset_size, offset)
    log_prod_qzd = log_qz_of(pairs, dataset_size, offset).sum(dim=1)
    return KLDecomposition(
        mi=log_qz_given_x - log_qz,
        tc=log_qz - log_prod_qzd,
        dwkl=log_prod_qzd - log_pz,
    )


__all__ = [
    "ESTIMATORS",
    "KLDecomposition",
    "decompose_kl",
    "log_density_gaussian",
    "log_qz_mss",
    "log_qz_mws",
    "pairwise_log_density",
]

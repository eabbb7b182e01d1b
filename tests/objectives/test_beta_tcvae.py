"""beta-TCVAE: the KL decomposition, both minibatch estimators of log q(z) against brute force on a
tiny data set, total correlation of factorised vs correlated codes, the unit-weight ELBO limit, a
tiny end-to-end run and the shipped recipe."""

import itertools
import json
import math

import pytest
import torch
from support import REPO, tiny_tree
from torch.distributions import Independent, Normal

from audiovae.models.conv import ConvVAE, ConvVAEConfig
from audiovae.objectives import get_objective
from audiovae.objectives.tc import decompose_kl, log_qz_mss, log_qz_mws, pairwise_log_density
from audiovae.recipe import load_recipe, recipe_from_dict
from audiovae.train.trainer import Trainer

F64 = torch.float64


def _posteriors(n, d, seed, spread=1.0, std=1.0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, d, generator=g, dtype=F64) * spread
    logvar = torch.log(torch.full((n, d), std**2, dtype=F64)) + 0.2 * torch.randn(
        n, d, generator=g, dtype=F64
    )
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, d, generator=g, dtype=F64)
    return z, mu, logvar


def _brute_log_qz(z, mu, logvar):
    """log q(z_i) = log 1/N sum_n q(z_i|x_n) over the whole data set, joint [N] and per dim [N, D],
    with torch.distributions."""
    q = Normal(mu[None], torch.exp(0.5 * logvar[None]))  # posterior n on axis 1
    per_dim = q.log_prob(z[:, None])  # [i, n, d]
    log_n = math.log(mu.shape[0])
    return torch.logsumexp(per_dim.sum(2), 1) - log_n, torch.logsumexp(per_dim, 1) - log_n


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_mi_tc_dwkl_sum_to_the_monte_carlo_kl(estimator):
    z, mu, logvar = _posteriors(300, 4, seed=0, spread=1.5, std=0.5)
    parts = decompose_kl(z, mu, logvar, dataset_size=5000, estimator=estimator)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    mc_kl = q.log_prob(z) - p.log_prob(z)  # E[log q(z|x) - log p(z)], one sample each
    torch.testing.assert_close(parts.mi + parts.tc + parts.dwkl, mc_kl)
    analytic = torch.distributions.kl_divergence(q, p)
    noise = (mc_kl - analytic).std() / math.sqrt(len(z))
    assert abs((mc_kl - analytic).mean()) < 4 * noise


def test_estimators_are_exact_when_the_batch_is_the_data_set():
    z, mu, logvar = _posteriors(6, 3, seed=1)
    joint, marginals = _brute_log_qz(z, mu, logvar)
    pairs = pairwise_log_density(z, mu, logvar)
    torch.testing.assert_close(log_qz_mss(pairs.sum(2), 6), joint)
    torch.testing.assert_close(log_qz_mss(pairs, 6), marginals)
    # Chen et al.'s MWS normalises by N M, so with M = N it sits exactly log N below
    torch.testing.assert_close(log_qz_mws(pairs.sum(2), 6), joint - math.log(6))
    torch.testing.assert_close(log_qz_mws(pairs, 6), marginals - math.log(6))


def test_mss_is_unbiased_for_q_over_all_minibatches_and_mws_is_a_lower_bound():
    """Tiny data set (N = 6): for each clip i, average the estimate of q(z_i) over every batch
    of M = 3 distinct clips that holds i (i plus each pair of the others) and compare with
    q(z_i) = 1/N sum_n q(z_i|x_n) over the whole set."""
    n, m = 6, 3
    z, mu, logvar = _posteriors(n, 2, seed=2, spread=0.7)
    joint, _ = _brute_log_qz(z, mu, logvar)
    for i in range(n):
        estimates, lower = [], []
        for others in itertools.combinations([j for j in range(n) if j != i], m - 1):
            idx = torch.tensor([i, *others])
            pairs = pairwise_log_density(z[idx], mu[idx], logvar[idx]).sum(2)
            estimates.append(log_qz_mss(pairs, n)[0].exp())
            lower.append(log_qz_mws(pairs, n)[0])
        torch.testing.assert_close(torch.stack(estimates).mean().log(), joint[i])
        assert max(lower) <= joint[i] - math.log(m) + 1e-12


def test_mws_plus_log_m_is_tight_for_narrow_separate_posteriors():
    n, m = 50, 10
    z, mu, logvar = _posteriors(n, 2, seed=3, spread=20.0, std=0.05)
    joint, _ = _brute_log_qz(z, mu, logvar)
    pairs = pairwise_log_density(z[:m], mu[:m], logvar[:m]).sum(2)
    torch.testing.assert_close(log_qz_mws(pairs, n) + math.log(m), joint[:m])
    torch.testing.assert_close(log_qz_mss(pairs, n), joint[:m])


def test_total_correlation_is_zero_for_factorised_codes_and_positive_for_correlated_ones():
    """A batch of M = 400 from N = 4000 clips. Factorised: mu ~ N(0, I), posterior std 1, so q(z)
    ~ N(0, 2I). Correlated: mu = (t, t), t ~ N(0, 2), std 0.3, so q(z) ~ a Gaussian with
    correlation 2 / 2.09, whose TC is -0.5 log(1 - rho^2) = 1.24 nats."""
    g = torch.Generator().manual_seed(4)
    n, m = 4000, 400

    def tc(mu_all, std, estimator):
        idx = torch.randperm(n, generator=g)[:m]
        mu = mu_all[idx]
        logvar = torch.full_like(mu, 2 * math.log(std))
        z = mu + std * torch.randn(mu.shape, generator=g, dtype=F64)
        return decompose_kl(z, mu, logvar, n, estimator).tc.mean().item()

    factorised = torch.randn(n, 2, generator=g, dtype=F64)
    correlated = (torch.randn(n, 1, generator=g, dtype=F64) * math.sqrt(2)).expand(n, 2)
    gaussian_tc = -0.5 * math.log(1 - (2 / 2.09) ** 2)
    assert abs(tc(factorised, 1.0, "mss")) < 0.1
    assert tc(correlated, 0.3, "mss") == pytest.approx(gaussian_tc, abs=0.25)
    # MWS carries an offset (here about (D - 1) log N), but the difference still shows
    assert tc(correlated, 0.3, "mws") - tc(factorised, 1.0, "mws") > 0.8


def test_decompose_kl_rejects_bad_input():
    z, mu, logvar = _posteriors(4, 2, seed=5)
    with pytest.raises(ValueError, match="estimator"):
        decompose_kl(z, mu, logvar, 10, "nope")
    with pytest.raises(ValueError, match="dataset_size"):
        decompose_kl(z, mu, logvar, 3)


def test_unit_weights_give_the_elbo_up_to_the_monte_carlo_kl():
    """alpha = beta = gamma = 1: the loss is recon + the one-sample KL of the same draw, so it
    differs from beta-VAE (beta = 1, analytic KL) by exactly the MC noise, zero on average."""
    torch.manual_seed(0)
    model = ConvVAE(ConvVAEConfig(n_mels=16, frames=13, latent_dim=3, channels=[4, 8]))
    x = torch.randn(8, 16, 13)
    tc_cls, ref_cls = get_objective("beta_tcvae"), get_objective("beta_vae")
    ref = ref_cls(ref_cls.Config(beta=1.0), n_mels=16, dataset_size=100)
    diffs = []
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
        p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
        for estimator in ("mss", "mws"):
            cfg = tc_cls.Config(alpha=1.0, beta=1.0, gamma=1.0, estimator=estimator)
            obj = tc_cls(cfg, n_mels=16, dataset_size=100)
            for seed in range(25):
                a = obj(model, x, step=0, generator=torch.Generator().manual_seed(seed))
                b = ref(model, x, step=0, generator=torch.Generator().manual_seed(seed))
                z = model.reparameterize(mu, logvar, torch.Generator().manual_seed(seed))
                mc_minus_analytic = (q.log_prob(z) - p.log_prob(z)).mean() - b.terms["kl"]
                torch.testing.assert_close(a.loss - b.loss, mc_minus_analytic, atol=1e-4, rtol=0)
                diffs.append(float(a.loss - b.loss))
    diffs = torch.tensor(diffs)
    assert abs(diffs.mean()) < 4 * diffs.std() / math.sqrt(len(diffs))


def test_trains_end_to_end_and_logs_its_terms(tmp_path, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=5)
    tree["objective"] = {"name": "beta_tcvae", "scale": 0.3, "beta": 6.0, "estimator": "mws"}
    summary = Trainer(recipe_from_dict(tree), tmp_path / "run").fit()
    assert summary["steps"] == 5 and math.isfinite(summary["best_val"])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    for record in map(json.loads, lines):
        for name in ("loss", "recon", "kl", "mi", "tc", "dwkl"):
            assert math.isfinite(record[name]), (record["split"], name)


def test_recipe_validates_and_matches_the_synthetic_recipe():
    recipe = load_recipe(REPO / "recipes" / "beta_tcvae.yaml").to_dict()
    synthetic = load_recipe(REPO / "recipes" / "synthetic.yaml").to_dict()
    assert recipe["objective"]["name"] == "beta_tcvae"
    for section in ("data", "features", "model", "train"):
        assert recipe[section] == synthetic[section], section

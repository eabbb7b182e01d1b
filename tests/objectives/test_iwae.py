"""IWAE: k = 1 is the ELBO on the same draws, the bound grows with k, log p(x) on a linear-Gaussian
model whose marginal is known in closed form, a tiny end-to-end run and the shipped recipe."""

import json
import math

import pytest
import torch
from support import REPO, tiny_tree
from torch.distributions import Independent, MultivariateNormal, Normal

from audiovae.models.conv import ConvVAE, ConvVAEConfig
from audiovae.objectives import get_objective
from audiovae.objectives.iwae import iwae_log_likelihood
from audiovae.objectives.likelihood import ReconstructionLikelihood
from audiovae.recipe import load_recipe, recipe_from_dict
from audiovae.train.trainer import Trainer

F64 = torch.float64


class LinearGaussian(torch.nn.Module):
    """x = W z + b + sigma * noise, z ~ N(0, I): p(x) = N(b, W W^T + sigma^2 I).

    q(z|x) is the mean-field posterior: the exact posterior mean and 1 / diag of the posterior
    precision I + W^T W / sigma^2 (exact when W's columns are orthogonal), its std times `widen`.
    x is [batch, P, 1] (P 'mel bands', one frame) as the likelihood expects.
    """

    def __init__(self, w, b, sigma, widen=1.0):
        super().__init__()
        self.w, self.b, self.sigma, self.widen = w, b, sigma, widen

    def encode(self, x):
        d = self.w.shape[1]
        precision = torch.eye(d, dtype=F64) + self.w.T @ self.w / self.sigma**2
        r = (x[..., 0] - self.b) @ self.w / self.sigma**2
        mu = torch.linalg.solve(precision, r.T).T
        logvar = (1 / precision.diagonal()).log() + 2 * math.log(self.widen)
        return mu, logvar.expand_as(mu)

    def decode(self, z):
        return (z @ self.w.T + self.b)[..., None]

    reparameterize = staticmethod(ConvVAE.reparameterize)

    def log_marginal(self, x):
        cov = self.w @ self.w.T + self.sigma**2 * torch.eye(len(self.b), dtype=F64)
        return MultivariateNormal(self.b, cov).log_prob(x[..., 0])


def _toy(orthogonal, seed=0, p=6, d=3, sigma=0.5, widen=1.0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(p, d, generator=g, dtype=F64)
    if orthogonal:
        w = torch.linalg.qr(w).Q * torch.tensor([2.0, 1.0, 0.5], dtype=F64)
    b = torch.randn(p, generator=g, dtype=F64)
    model = LinearGaussian(w, b, sigma, widen)
    z = torch.randn(5, d, generator=g, dtype=F64)
    x = model.decode(z) + sigma * torch.randn(5, p, 1, generator=g, dtype=F64)
    likelihood = ReconstructionLikelihood("gaussian", n_mels=p, scale=sigma).double()
    return model, likelihood, x


def _iwae(k, n_mels=16, scale=1.0):
    cls = get_objective("iwae")
    return cls(cls.Config(k=k, scale=scale), n_mels=n_mels, dataset_size=10)


def test_k1_is_the_elbo_on_the_same_draw():
    torch.manual_seed(0)
    model = ConvVAE(ConvVAEConfig(n_mels=16, frames=13, latent_dim=3, channels=[4, 8]))
    x = torch.randn(4, 16, 13)
    out = _iwae(1, scale=0.5)(model, x, step=0, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # the same draw, by hand with torch.distributions
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar, torch.Generator().manual_seed(3))
        log_px_z = Normal(model.decode(z), 0.5).log_prob(x).sum((1, 2))
        log_pz = Normal(0.0, 1.0).log_prob(z).sum(1)
        log_qz = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1).log_prob(z)
        elbo = (log_px_z + log_pz - log_qz).mean()
    torch.testing.assert_close(out.terms["iwae_bound"], elbo)
    torch.testing.assert_close(out.terms["elbo"], elbo)
    torch.testing.assert_close(out.loss, -elbo)
    torch.testing.assert_close(out.terms["recon"], -log_px_z.mean())
    ref_cls = get_objective("beta_vae")  # same draw, analytic KL instead of the one-sample one
    ref = ref_cls(ref_cls.Config(beta=1.0, scale=0.5), n_mels=16, dataset_size=10)
    b = ref(model, x, step=0, generator=torch.Generator().manual_seed(3))
    diff = (log_qz - log_pz).mean() - b.terms["kl"]  # losses of ~300 nats in float32
    torch.testing.assert_close(out.loss - b.loss, diff, atol=1e-4, rtol=0)


def test_bound_grows_with_k_and_stays_below_log_px():
    """Each of 5 points repeated 800 times: the batch mean is the average over 800 seeds. q is
    the mean-field posterior with its std doubled, so the ELBO is far below log p(x)."""
    model, likelihood, x = _toy(orthogonal=False, widen=2.0)
    reps = x.repeat(800, 1, 1)
    exact = model.log_marginal(x).mean().item()
    bounds = []
    for k in (1, 2, 5, 20, 100):
        g = torch.Generator().manual_seed(k)
        bounds.append(iwae_log_likelihood(model, likelihood, reps, k=k, generator=g).mean().item())
    assert bounds[0] < exact - 1.0  # a real gap to close
    assert all(b1 > b0 + 0.02 for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True)), bounds
    assert exact - 0.1 < bounds[-1] < exact + 0.01


def test_log_likelihood_is_exact_with_the_exact_posterior():
    """Orthogonal W: the mean-field q is the exact posterior, every weight equals p(x)."""
    model, likelihood, x = _toy(orthogonal=True)
    est = iwae_log_likelihood(model, likelihood, x, k=10, batch_k=3, generator=None)
    torch.testing.assert_close(est, model.log_marginal(x))


def test_log_likelihood_lands_near_the_closed_form():
    """Correlated posterior, mean-field q widened 1.5x so that it covers the posterior (bounded
    weights): k = 5000 (Burda et al.'s evaluation setting) lands within 0.05 nats."""
    model, likelihood, x = _toy(orthogonal=False, widen=1.5)
    g = torch.Generator().manual_seed(0)
    est = iwae_log_likelihood(model, likelihood, x, k=5000, batch_k=500, generator=g)
    exact = model.log_marginal(x)
    assert est.shape == (5,)
    assert (est - exact).abs().max() < 0.05
    elbo = iwae_log_likelihood(model, likelihood, x.repeat(200, 1, 1), k=1, generator=g)
    assert (exact - elbo.view(200, 5).mean(0)).min() > 0.2  # the ELBO alone is clearly looser


def test_log_likelihood_checks_k():
    model, likelihood, x = _toy(orthogonal=True)
    with pytest.raises(ValueError, match="k and batch_k"):
        iwae_log_likelihood(model, likelihood, x, k=0)


def test_trains_end_to_end_and_logs_its_terms(tmp_path, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=5)
    tree["objective"] = {"name": "iwae", "scale": 0.3, "k": 2}
    summary = Trainer(recipe_from_dict(tree), tmp_path / "run").fit()
    assert summary["steps"] == 5 and math.isfinite(summary["best_val"])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    for record in map(json.loads, lines):
        for name in ("loss", "iwae_bound", "elbo", "recon", "kl"):
            assert math.isfinite(record[name]), (record["split"], name)
        assert record["iwae_bound"] >= record["elbo"]  # log-mean-exp >= mean, draw by draw
        assert record["loss"] == pytest.approx(-record["iwae_bound"])


def test_recipe_validates_and_matches_the_synthetic_recipe():
    recipe = load_recipe(REPO / "recipes" / "iwae.yaml").to_dict()
    synthetic = load_recipe(REPO / "recipes" / "synthetic.yaml").to_dict()
    assert recipe["objective"]["name"] == "iwae"
    for section in ("data", "features", "model", "train"):
        assert recipe[section] == synthetic[section], section

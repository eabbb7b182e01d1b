"""KL closed form vs Monte Carlo, likelihoods vs torch.distributions, beta-VAE loss by hand."""

import math

import pytest
import torch
from torch.distributions import Laplace, Normal, kl_divergence

from audiovae.models.conv import ConvVAE, ConvVAEConfig
from audiovae.objectives import available_objectives, get_objective
from audiovae.objectives.kl import gaussian_kl
from audiovae.objectives.likelihood import ReconstructionLikelihood


def test_kl_closed_form_matches_monte_carlo_and_torch():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 4, generator=g, dtype=torch.float64) * 0.5
    closed = gaussian_kl(mu, logvar)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(closed, kl_divergence(q, p))
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    assert (mc - closed).abs().max() < 0.02


def test_kl_is_zero_at_the_prior():
    assert gaussian_kl(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max() == 0


@pytest.mark.parametrize("kind", ["gaussian", "gaussian_learned", "laplace"])
def test_likelihood_is_the_true_negative_log_likelihood(kind):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    x_hat = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    lik = ReconstructionLikelihood(kind, n_mels=3, scale=0.3).double()
    scale = torch.full((3, 1), 0.3, dtype=torch.float64)
    dist = Laplace(x_hat, scale) if kind == "laplace" else Normal(x_hat, scale)
    expected = -dist.log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(lik.nll(x_hat, x), expected)


def test_learned_scale_is_a_parameter_fixed_is_not():
    assert len(list(ReconstructionLikelihood("gaussian_learned", 4).parameters())) == 1
    assert len(list(ReconstructionLikelihood("gaussian", 4).parameters())) == 0


def test_registry_lists_beta_vae_and_rejects_unknown():
    assert "beta_vae" in available_objectives()
    with pytest.raises(KeyError, match="available"):
        get_objective("nope")


class _FixedModel(torch.nn.Module):
    """A 'model' with known outputs, to compute the loss by hand."""

    def __init__(self, mu, logvar, x_hat):
        super().__init__()
        self.mu, self.logvar, self.x_hat = mu, logvar, x_hat

    def encode(self, x):
        return self.mu, self.logvar

    reparameterize = staticmethod(ConvVAE.reparameterize)

    def decode(self, z):
        return self.x_hat


def test_beta_vae_loss_is_per_example_sums_averaged_over_batch():
    cls = get_objective("beta_vae")
    obj = cls(cls.Config(beta=4.0, scale=1.0), n_mels=2, dataset_size=10)
    x = torch.zeros(2, 2, 3)
    x_hat = torch.ones(2, 2, 3)
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.zeros(2, 2)
    out = obj(_FixedModel(mu, logvar, x_hat), x, step=0)
    recon = 6 * (0.5 + 0.5 * math.log(2 * math.pi))  # 6 elements, squared error 1 each
    kl = (0.5 + 0.0) / 2  # example 0 has KL 0.5, example 1 has 0
    assert out.terms["recon"].item() == pytest.approx(recon)
    assert out.terms["kl"].item() == pytest.approx(kl)
    assert out.loss.item() == pytest.approx(recon + 4.0 * kl)
    torch.testing.assert_close(out.kl_per_dim, torch.tensor([0.25, 0.0]))


def test_beta_vae_runs_on_the_conv_model_and_backpropagates():
    cfg = ConvVAEConfig(n_mels=16, frames=13, latent_dim=3, channels=[4, 8])
    model = ConvVAE(cfg)
    cls = get_objective("beta_vae")
    obj = cls(cls.Config(likelihood="gaussian_learned"), n_mels=16, dataset_size=4)
    out = obj(model, torch.randn(4, 16, 13), step=0, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert obj.likelihood.log_scale.grad is not None
    assert all(p.grad is not None for p in model.encoder.parameters())

"""Ada-ML-VAE's aggregate against a hand computation: on the shared dims both posteriors become
the Gaussian whose precision is the mean of the two precisions and whose mean is their
precision-weighted mean (disentanglement_lib's MLVae; the normalised sqrt(q1 q2))."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from audiovae.objectives import get_objective

LN4 = math.log(4.0)
# The pair of test_ada_gvae.py: dims 0, 2 and 3 shared (threshold 1), dim 1 kept apart.
MU = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 3.0, 0.0]], dtype=torch.float64)
LOGVAR = torch.tensor([[0.0, 0.0, 0.0, LN4], [0.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
# Hand aggregate, precisions p = 1 / var:
#   dim 0: p = (1 + 1) / 2 = 1 -> var 1; mean 0
#   dim 2: p = (1 + 1/e) / 2 = 0.683940 -> var 1.462117 (= 2e / (1 + e));
#          mean (1 * 1 + 3 / e) / (1 + 1/e) = 2.103638 / 1.367879 = 1.537883
#   dim 3: p = (1/4 + 1) / 2 = 0.625 -> var 1.6 (= 2 * 4 * 1 / 5); mean 0
ML_MU = [[0.0, 0.0, 1.537883, 0.0], [0.0, 2.0, 1.537883, 0.0]]
ML_VAR = [[1.0, 1.0, 1.462117, 1.6], [1.0, 1.0, 1.462117, 1.6]]


def _objective(**config):
    cls = get_objective("ada_ml_vae")
    return cls(cls.Config(scale=1.0, **config), n_mels=2, dataset_size=10)


def test_product_aggregate_by_hand():
    obj = _objective()
    assert type(obj).paired and obj.config.name == "ada_ml_vae"
    mu, logvar, shared = obj.shared_posteriors(MU, LOGVAR)
    assert shared.tolist() == [[True, False, True, True]]
    torch.testing.assert_close(mu, torch.tensor(ML_MU, dtype=torch.float64), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        logvar.exp(), torch.tensor(ML_VAR, dtype=torch.float64), rtol=0, atol=1e-6
    )


def test_aggregate_is_the_normalised_square_root_of_the_product():
    """sqrt(q1(z) q2(z)) / Z is N(mu, var) above: its log-density differs from
    0.5 (log q1 + log q2) by a constant in z."""
    obj = _objective()
    mu, logvar, _ = obj.shared_posteriors(MU, LOGVAR)
    z = torch.linspace(-3, 5, 9, dtype=torch.float64)
    q1 = Normal(MU[0, 2], LOGVAR[0, 2].mul(0.5).exp())
    q2 = Normal(MU[1, 2], LOGVAR[1, 2].mul(0.5).exp())
    q = Normal(mu[0, 2], logvar[0, 2].mul(0.5).exp())
    gap = 0.5 * (q1.log_prob(z) + q2.log_prob(z)) - q.log_prob(z)
    assert gap.max() - gap.min() == pytest.approx(0.0, abs=1e-9)


def test_loss_uses_the_product_posterior():
    """x_hat = x: no reconstruction error beyond the constant; KL to the prior by hand:
    note 1: dim 2: 0.5 * (1.537883^2 + 1.462117 - 1 - 0.379885) = 1.223658,
            dim 3: 0.5 * (1.6 - 1 - 0.470004) = 0.064998;  note 2 adds dim 1: 2.
    mean over the two notes: 1.288656 + 1 = 2.288656."""
    obj = _objective(beta=1.0)

    class Fixed(torch.nn.Module):
        def encode(self, x):
            return MU, LOGVAR

        def reparameterize(self, mu, logvar, generator=None):
            return mu

        def decode(self, z):
            return torch.zeros(2, 2, 3, dtype=z.dtype)

    out = obj(Fixed(), torch.zeros(2, 2, 3), step=0)
    assert out.terms["kl"].item() == pytest.approx(2.288656, abs=1e-5)
    assert out.terms["recon"].item() == pytest.approx(6 * 0.5 * math.log(2 * math.pi))

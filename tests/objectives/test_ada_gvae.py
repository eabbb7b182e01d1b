"""Ada-GVAE against a hand computation: per-dim KL of a pair's posteriors, the adaptive threshold,
the averaged posterior, and the loss of both notes (Locatello et al. 2020)."""

from __future__ import annotations

import math

import pytest
import torch

from audiovae.models.conv import ConvVAE, ConvVAEConfig
from audiovae.objectives import get_objective

LN2, LN4 = math.log(2.0), math.log(4.0)
E = math.e

# One pair, four latent dims, worked by hand with KL(N(m1, v1) || N(m2, v2)) =
# 0.5 * (v1 / v2 + (m1 - m2)^2 / v2 - 1 + ln v2 - ln v1):
#   dim 0: equal posteriors N(0, 1)             -> KL 0
#   dim 1: N(0, 1) vs N(2, 1)                   -> 0.5 * (1 + 4 - 1) = 2
#   dim 2: N(1, 1) vs N(3, e)                   -> 0.5 * (1/e + 4/e - 1 + 1) = 2.5 / e = 0.919699
#   dim 3: N(0, 4) vs N(0, 1)                   -> 0.5 * (4 - 1 - ln 4) = 0.806853
# threshold = (0 + 2) / 2 = 1: dims 0, 2, 3 shared (three), dim 1 kept apart.
MU = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 3.0, 0.0]], dtype=torch.float64)
LOGVAR = torch.tensor([[0.0, 0.0, 0.0, LN4], [0.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
# GVAE on the shared dims: mean of means, mean of VARIANCES:
#   dim 0: N(0, 1); dim 2: N(2, (1 + e) / 2 = 1.859141); dim 3: N(0, (4 + 1) / 2 = 2.5)
GVAE_MU = [[0.0, 0.0, 2.0, 0.0], [0.0, 2.0, 2.0, 0.0]]
GVAE_VAR = [[1.0, 1.0, 1.859141, 2.5], [1.0, 1.0, 1.859141, 2.5]]


class _FixedModel(torch.nn.Module):
    """Known posteriors; z = the mean (no noise); the decoder returns zeros of x's shape."""

    def __init__(self, mu, logvar, shape):
        super().__init__()
        self.mu, self.logvar, self.shape = mu, logvar, shape
        self.decoded = None

    def encode(self, x):
        return self.mu, self.logvar

    def reparameterize(self, mu, logvar, generator=None):
        self.posterior = (mu, logvar)
        return mu

    def decode(self, z):
        self.decoded = z
        return torch.zeros(self.shape, dtype=z.dtype)


def _objective(name="ada_gvae", n_mels=2, **config):
    cls = get_objective(name)
    return cls(cls.Config(scale=1.0, **config), n_mels=n_mels, dataset_size=10).double()


def test_threshold_and_averaged_posterior_by_hand():
    obj = _objective()
    mu, logvar, shared = obj.shared_posteriors(MU, LOGVAR)
    assert shared.tolist() == [[True, False, True, True]]
    torch.testing.assert_close(mu, torch.tensor(GVAE_MU, dtype=torch.float64))
    torch.testing.assert_close(
        logvar.exp(), torch.tensor(GVAE_VAR, dtype=torch.float64), rtol=0, atol=1e-6
    )


def test_loss_reconstructs_both_notes_with_beta_on_per_example_kl_sums():
    """x = 1 everywhere, x_hat = 0: each note's NLL is 6 * (0.5 + 0.5 ln 2 pi) (2 mels x 3
    frames). KL to the prior of the aggregated posteriors, 0.5 * (m^2 + v - 1 - ln v) per dim:
      note 1: dim 0: 0; dim 1: 0; dim 2: 0.5 * (4 + 1.859141 - 1 - 0.620115) = 2.119513;
              dim 3: 0.5 * (2.5 - 1 - 0.916291) = 0.291855                  -> 2.411368
      note 2: dim 1: 0.5 * 4 = 2, the rest as note 1                          -> 4.411368
    mean over the two notes: 3.411368."""
    obj = _objective(beta=3.0)
    x = torch.ones(2, 2, 3, dtype=torch.float64)
    model = _FixedModel(MU, LOGVAR, x.shape)
    out = obj(model, x, step=0)
    recon = 6 * (0.5 + 0.5 * math.log(2 * math.pi))
    kl = 3.411368
    assert model.decoded.shape == (2, 4)  # both notes decoded
    assert out.terms["recon"].item() == pytest.approx(recon)
    assert out.terms["kl"].item() == pytest.approx(kl, abs=1e-5)
    assert out.loss.item() == pytest.approx(recon + 3.0 * kl, abs=1e-5)
    assert out.terms["shared_dims"].item() == 3
    per_dim = [0.0, 1.0, (2.119513 * 2) / 2, 0.291855]  # batch mean of each dim's KL
    torch.testing.assert_close(
        out.kl_per_dim.double(), torch.tensor(per_dim, dtype=torch.float64), rtol=0, atol=1e-5
    )


def test_symmetric_divergence_moves_the_threshold():
    """dim 1: N(0, 4) vs N(0, 1): KL 0.806853 one way, 0.318147 the other; dim 2 the mirror;
    dim 3: N(0, 1) vs N(sqrt 2, 1): KL 1 both ways. KL(q1 || q2) = [0, 0.806853, 0.318147, 1]:
    threshold 0.5, dims 0 and 2 shared. Symmetric: [0, 0.5625, 0.5625, 1]: only dim 0."""
    mu = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, math.sqrt(2)]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, LN4, 0.0, 0.0], [0.0, 0.0, LN4, 0.0]], dtype=torch.float64)
    _, _, shared = _objective().shared_posteriors(mu, logvar)
    assert shared.tolist() == [[True, False, True, False]]
    _, _, shared = _objective(divergence="symmetric_kl").shared_posteriors(mu, logvar)
    assert shared.tolist() == [[True, False, False, False]]


def test_identical_partners_share_nothing_and_train_like_beta_vae():
    """All deltas equal: no dim lies below the midpoint, so the loss is beta-VAE's."""
    cfg = ConvVAEConfig(n_mels=16, frames=13, latent_dim=3, channels=[4, 8])
    torch.manual_seed(0)
    model = ConvVAE(cfg)
    x = torch.randn(2, 16, 13).repeat_interleave(2, dim=0)  # rows (0, 1) and (2, 3) alike
    ada = _objective(beta=2.0, n_mels=16).float()
    beta = get_objective("beta_vae")(
        get_objective("beta_vae").Config(scale=1.0, beta=2.0), n_mels=16, dataset_size=4
    )
    a = ada(model, x, step=0, generator=torch.Generator().manual_seed(3))
    b = beta(model, x, step=0, generator=torch.Generator().manual_seed(3))
    assert a.terms["shared_dims"].item() == 0
    torch.testing.assert_close(a.loss, b.loss)


def test_pairs_are_rows_2i_and_2i_plus_1_and_gradients_flow():
    cfg = ConvVAEConfig(n_mels=16, frames=13, latent_dim=4, channels=[4, 8])
    model = ConvVAE(cfg)
    obj = _objective(n_mels=16).float()
    assert type(obj).paired and not get_objective("beta_vae").paired
    out = obj(model, torch.randn(4, 16, 13), step=0, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    with pytest.raises(ValueError, match="whole pairs"):
        obj(model, torch.randn(3, 16, 13), step=0)

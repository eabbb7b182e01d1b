"""Shapes, padding/cropping and batch independence of the conv VAE."""

import pytest
import torch

from audiovae.models.conv import ConvVAE, ConvVAEConfig


@pytest.mark.parametrize(
    "n_mels,frames,kernel", [(64, 64, 4), (128, 251, 4), (20, 33, 3), (16, 9, 5)]
)
def test_any_input_size_round_trips(n_mels, frames, kernel):
    cfg = ConvVAEConfig(
        n_mels=n_mels, frames=frames, latent_dim=5, channels=[4, 8, 8], kernel_size=kernel
    )
    model = ConvVAE(cfg)
    mu, logvar = model.encode(torch.randn(2, n_mels, frames))
    assert mu.shape == logvar.shape == (2, 5)
    assert model.decode(mu).shape == (2, n_mels, frames)


def test_outputs_do_not_depend_on_the_rest_of_the_batch():
    torch.manual_seed(0)
    model = ConvVAE(ConvVAEConfig(n_mels=16, frames=16, latent_dim=4, channels=[8, 16]))
    x = torch.randn(6, 16, 16)
    mu_all, _ = model.encode(x)
    mu_half, _ = model.encode(x[:3])
    torch.testing.assert_close(mu_all[:3], mu_half, rtol=1e-5, atol=1e-6)


def test_reparameterize_is_reproducible_with_a_generator_and_has_the_right_moments():
    mu = torch.full((200_000, 1), 2.0)
    logvar = torch.full((200_000, 1), 2 * torch.log(torch.tensor(0.5)).item())
    z1 = ConvVAE.reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    z2 = ConvVAE.reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(z1, z2)
    assert abs(z1.mean().item() - 2.0) < 0.01 and abs(z1.std().item() - 0.5) < 0.01


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="activation"):
        ConvVAEConfig(n_mels=8, frames=8, activation="tanhh")

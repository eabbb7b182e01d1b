"""Named latent blocks: layout, get / set round trips, config checks, and eta squared by hand."""

import numpy as np
import pytest
import torch

from audiovae.api import AudioVAE
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.models.conv import ConvVAE, ConvVAEConfig
from audiovae.models.subspaces import block_slices, eta_squared, get_block, set_block


def test_blocks_are_laid_out_in_order():
    assert block_slices({"pitch": 3, "timbre": 5, "rest": 1}) == {
        "pitch": slice(0, 3),
        "timbre": slice(3, 8),
        "rest": slice(8, 9),
    }


def test_get_and_set_round_trip_and_leave_the_rest_alone():
    slices = block_slices({"pitch": 2, "timbre": 3})
    z = torch.arange(10.0).view(2, 5)
    assert get_block(z, slices, "timbre").tolist() == [[2, 3, 4], [7, 8, 9]]
    new = torch.tensor([[-1.0, -2.0], [-3.0, -4.0]])
    out = set_block(z, slices, "pitch", new)
    assert torch.equal(get_block(out, slices, "pitch"), new)
    assert torch.equal(out[:, 2:], z[:, 2:]) and torch.equal(z, torch.arange(10.0).view(2, 5))
    with pytest.raises(ValueError, match="no latent sub-space 'loudness'.*pitch, timbre"):
        get_block(z, slices, "loudness")
    with pytest.raises(ValueError, match="has 3 dimensions"):
        set_block(z, slices, "timbre", torch.zeros(2, 2))


def test_config_checks_the_sum():
    ConvVAEConfig(n_mels=8, frames=8, latent_dim=5, subspaces={"a": 2, "b": 3})
    with pytest.raises(ValueError, match="latent_dim 6 != the sum"):
        ConvVAEConfig(n_mels=8, frames=8, latent_dim=6, subspaces={"a": 2, "b": 3})
    with pytest.raises(ValueError, match="must be positive"):
        ConvVAEConfig(n_mels=8, frames=8, latent_dim=2, subspaces={"a": 2, "b": 0})


def test_api_blocks_round_trip_through_a_model():
    cfg = ConvVAEConfig(
        n_mels=16, frames=16, latent_dim=5, channels=[4, 8], subspaces={"pitch": 2, "timbre": 3}
    )
    fe = LogMelFrontEnd(sample_rate=16000, n_fft=256, hop_length=64, n_mels=16)
    vae = AudioVAE(ConvVAE(cfg), fe, clip_samples=64 * 15)
    assert vae.subspaces == {"pitch": slice(0, 2), "timbre": slice(2, 5)}
    assert vae.block_dims("timbre") == [2, 3, 4]
    g = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    swapped = vae.set_block(z_a, "pitch", vae.get_block(z_b, "pitch"))
    assert torch.equal(swapped[:, :2], z_b[:, :2]) and torch.equal(swapped[:, 2:], z_a[:, 2:])
    assert torch.equal(vae.get_block(vae.set_block(z_a, "timbre", 0.5), "timbre"),
                       torch.full((3, 3), 0.5))  # fmt: skip
    assert vae.decode(swapped).shape == (3, 16, 16)
    plain = AudioVAE(ConvVAE(ConvVAEConfig(n_mels=16, frames=16, latent_dim=5, channels=[4])),
                     fe, 960)  # fmt: skip
    assert plain.subspaces == {}
    with pytest.raises(ValueError, match="no sub-spaces"):
        plain.get_block(z_a, "pitch")


def test_eta_squared_by_hand():
    labels = np.array(["a", "a", "b", "b"])
    mu = np.array(
        [
            [1.0, 1.0, 0.0],  # dim 0: the label alone (eta^2 = 1)
            [1.0, -1.0, 1.0],  # dim 1: same class means (0)
            [3.0, 1.0, 2.0],  # dim 2: means 0.5 and 2.5
            [3.0, -1.0, 3.0],
        ]
    )
    # dim 2 by hand: grand mean 1.5, between = (0.5 * 1 + 0.5 * 1) = 1.0, total var = 1.25
    np.testing.assert_allclose(eta_squared(mu, labels), [1.0, 0.0, 1.0 / 1.25], atol=1e-9)

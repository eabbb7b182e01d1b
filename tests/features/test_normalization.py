"""Per-band statistics against numpy on the whole array; normaliser round trip."""

import numpy as np
import torch

from audiovae.features.normalization import MelNormalizer, mel_band_statistics


def test_band_statistics_match_numpy_over_a_subset():
    rng = np.random.default_rng(0)
    feats = (rng.standard_normal((50, 8, 11)) * np.arange(1, 9)[None, :, None] + 3).astype(
        np.float16
    )
    idx = rng.choice(50, size=23, replace=False)
    mean, std = mel_band_statistics(feats, idx, chunk=4)
    sub = feats[np.sort(idx)].astype(np.float64)
    np.testing.assert_allclose(mean, sub.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(std, sub.std(axis=(0, 2)), rtol=1e-4)


def test_normalizer_round_trip_and_unit_statistics():
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((40, 6, 9)) * 4 - 7
    mean, std = mel_band_statistics(feats, np.arange(40))
    norm = MelNormalizer(6)
    norm.set_statistics(mean, std)
    x = torch.from_numpy(feats).float()
    z = norm.normalize(x)
    torch.testing.assert_close(z.mean(dim=(0, 2)), torch.zeros(6), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 2), unbiased=False), torch.ones(6), atol=1e-4, rtol=0)
    torch.testing.assert_close(norm.denormalize(z), x, atol=1e-4, rtol=1e-5)


def test_constant_band_does_not_divide_by_zero():
    norm = MelNormalizer(2, min_std=1e-3)
    norm.set_statistics(np.array([1.0, 2.0]), np.array([0.0, 1.0]))
    assert torch.isfinite(norm.normalize(torch.ones(1, 2, 3))).all()

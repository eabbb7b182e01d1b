"""The log-mel front end against librosa with the same settings."""

import librosa
import numpy as np
import pytest
import torch

from audiovae.features.logmel import LogMelFrontEnd


def _signal(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1375.5 * t)
    return (tone * np.exp(-2 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float64)


SETTINGS = [
    dict(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=64, f_min=0.0, f_max=8000.0,
         mel_scale="slaney", norm="slaney"),
    dict(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=128, f_min=30.0, f_max=7000.0,
         mel_scale="slaney", norm="slaney"),
    dict(sample_rate=22050, n_fft=512, hop_length=128, n_mels=40, f_min=0.0, f_max=None,
         mel_scale="htk", norm=None),
    dict(sample_rate=16000, n_fft=2048, hop_length=512, n_mels=96, f_min=20.0, f_max=8000.0,
         mel_scale="htk", norm="slaney"),
]  # fmt: skip


@pytest.mark.parametrize("settings", SETTINGS)
def test_mel_power_matches_librosa(settings):
    y = _signal(settings["sample_rate"], 0.75)
    fe = LogMelFrontEnd(**settings).double()
    ours = fe.mel_power(torch.from_numpy(y)).numpy()
    ref = librosa.feature.melspectrogram(
        y=y, sr=settings["sample_rate"], n_fft=settings["n_fft"], hop_length=settings["hop_length"],
        n_mels=settings["n_mels"], fmin=settings["f_min"], fmax=settings["f_max"],
        htk=settings["mel_scale"] == "htk", norm=settings["norm"], center=True,
        pad_mode="constant", power=2.0, window="hann",
    )  # fmt: skip
    assert ours.shape == ref.shape
    rel = np.abs(ours - ref).max() / np.abs(ref).max()
    assert rel < 1e-4, rel


def test_float32_log_mel_matches_librosa_log():
    settings = SETTINGS[0]
    y = _signal(16000, 1.0, seed=3)
    fe = LogMelFrontEnd(**settings, log_floor=1e-5)
    ours = fe(torch.from_numpy(y).float()).numpy()
    ref = librosa.feature.melspectrogram(
        y=y,
        sr=16000,
        n_fft=1024,
        hop_length=256,
        n_mels=64,
        fmin=0.0,
        fmax=8000.0,
        pad_mode="constant",
    )
    ref_log = np.log(np.maximum(ref, 1e-5))
    # relative error of the power < 1e-4 means absolute error of the log < ~1e-4
    assert np.abs(ours - ref_log).max() < 2e-4


def test_batched_and_chunked_equals_one_by_one():
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=32, chunk_samples=3 * 8000)  # chunks of 3
    x = torch.randn(7, 8000)
    batch = fe(x)
    single = torch.stack([fe(x[i]) for i in range(7)])
    assert batch.shape == (7, 32, fe.num_frames(8000))
    torch.testing.assert_close(batch, single, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "n_mels, f_min, f_max", [(128, 0.0, None), (40, 300.0, 5000.0), (7, 0, None)]
)
def test_banded_mel_projection_equals_the_dense_filterbank(n_mels, f_min, f_max):
    """The CPU path projects groups of mels from their support only; it must equal the dense
    product, and every group's filters must be zero outside its bin range."""
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=n_mels, f_min=f_min, f_max=f_max)
    covered = torch.zeros_like(fe.mel_basis)
    for start, (name, lo, hi) in zip(range(0, n_mels, 16), fe._bands, strict=True):
        covered[start : start + 16, lo:hi] = getattr(fe, name)
    torch.testing.assert_close(covered, fe.mel_basis, rtol=0, atol=0)
    x = torch.randn(3, 12000)
    spec = torch.stft(x, fe.n_fft, fe.hop_length, window=fe.window, center=True,
                      pad_mode="constant", return_complex=True)  # fmt: skip
    dense = fe.mel_basis @ spec.abs().pow(2)
    torch.testing.assert_close(fe.mel_power(x), dense, rtol=1e-5, atol=1e-6)


def test_silence_hits_the_floor():
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=16, log_floor=1e-4)
    out = fe(torch.zeros(1, 4000))
    assert torch.allclose(out, torch.full_like(out, np.log(1e-4)))
    assert fe.log_floor_value == pytest.approx(np.log(1e-4))


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="f_max"):
        LogMelFrontEnd(sample_rate=16000, f_max=9000)
    with pytest.raises(ValueError, match="shorter than n_fft"):
        LogMelFrontEnd(sample_rate=16000)(torch.zeros(1, 100))
    with pytest.raises(ValueError, match="batch, samples"):
        LogMelFrontEnd(sample_rate=16000)(torch.zeros(1, 1, 4000))

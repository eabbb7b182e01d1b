"""Audio I/O: formats, mono mix-down, resampling against librosa, pad/crop modes, errors."""

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audiovae.audio.io import fit_length, load_audio, read_audio, resample, to_mono, write_wav
from audiovae.errors import DataError


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS")])
def test_load_formats_mono_and_rate(tmp_path, fmt, subtype):
    sr = 22050
    t = np.arange(sr // 2) / sr
    stereo = np.stack(
        [0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 440 * t)], axis=1
    )
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, stereo, sr, format=fmt, subtype=subtype)
    y = load_audio(path, 16000)
    assert y.ndim == 1 and y.dtype == torch.float32
    assert abs(y.shape[0] - 8000) <= 1
    spectrum = np.abs(np.fft.rfft(y.numpy()))
    assert abs(np.argmax(spectrum) * 16000 / y.shape[0] - 440) < 3


def test_to_mono_is_channel_mean():
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    assert torch.equal(to_mono(x), torch.tensor([2.0, 4.0]))
    assert torch.equal(to_mono(x[0]), x[0])


def test_resample_agrees_with_librosa_on_a_band_limited_tone():
    sr = 48000
    t = np.arange(sr) / sr
    y = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    ours = resample(torch.from_numpy(y), sr, 16000).numpy()
    ref = librosa.resample(y, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    assert ours.shape == ref.shape
    inner = slice(200, -200)  # edges differ by filter design
    assert np.abs(ours[inner] - ref[inner]).max() < 2e-2


def test_fit_length_modes():
    x = torch.arange(10.0)
    assert torch.equal(fit_length(x, 4, "start"), torch.arange(4.0))
    assert torch.equal(fit_length(x, 4, "center"), torch.arange(3.0, 7.0))
    padded = fit_length(x, 13)
    assert padded.shape == (13,) and torch.equal(padded[10:], torch.zeros(3))
    a = fit_length(x, 4, "random", torch.Generator().manual_seed(5))
    b = fit_length(x, 4, "random", torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and torch.equal(a, torch.arange(a[0], a[0] + 4))
    with pytest.raises(ValueError, match="crop mode"):
        fit_length(x, 4, "middle")


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_audio(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk" * 8)
    with pytest.raises(DataError, match="bad.wav: cannot decode audio") as info:
        read_audio(bad)
    assert "\n" not in str(info.value)


def test_write_wav_round_trip_and_refuses_nan(tmp_path):
    x = torch.linspace(-0.5, 0.5, 1000)
    path = write_wav(tmp_path / "sub" / "x.wav", x, 16000)
    info = sf.info(path)
    assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1
    back, sr = read_audio(path)
    assert np.abs(back[0] - x.numpy()).max() < 1e-4
    with pytest.raises(ValueError, match="NaN"):
        write_wav(tmp_path / "n.wav", torch.tensor([0.0, float("nan")]), 16000)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    length=st.integers(1, 300),
    mode=st.sampled_from(["start", "center", "random"]),
)
def test_fit_length_always_gives_the_length_and_a_contiguous_slice(n, length, mode):
    x = torch.arange(n, dtype=torch.float32) + 1  # no zeros inside the signal
    y = fit_length(x, length, mode, torch.Generator().manual_seed(0))
    assert y.shape == (length,)
    body = y[y != 0]
    assert body.numel() == min(n, length)
    assert torch.equal(body, torch.arange(body[0], body[0] + body.numel()))  # one contiguous piece
    if n <= length:
        assert torch.equal(y[:n], x)

"""Overlapping windows for audio longer than the model's window."""

import torch

from audiovae.features.logmel import LogMelFrontEnd
from audiovae.generate.windows import window_starts, windowed_logmel


def test_window_starts_cover_the_signal_on_hop_multiples():
    starts = window_starts(50_000, 16_128, 256)
    assert starts[0] == 0 and all(s % 256 == 0 for s in starts)
    assert starts[-1] + 16_128 >= 50_000
    assert all(b - a == starts[1] - starts[0] for a, b in zip(starts, starts[1:], strict=False))
    assert window_starts(1000, 16_128, 256) == [0]


def test_identity_windowing_matches_the_whole_signal_away_from_edges():
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=32)
    t = torch.arange(40_000) / 16000
    audio = 0.3 * torch.sin(2 * torch.pi * (200 + 300 * t) * t)  # a chirp: every frame differs
    whole = fe(audio)
    blended = windowed_logmel(audio, 8192, fe, lambda x: x)
    assert blended.shape == whole.shape
    inner = slice(8, -8)  # frames near the signal's ends see zero padding in both anyway
    assert (blended[:, inner] - whole[:, inner]).abs().max() < 1e-4


def test_short_audio_is_one_padded_window():
    fe = LogMelFrontEnd(sample_rate=16000, n_mels=16)
    out = windowed_logmel(torch.randn(3000) * 0.1, 8192, fe, lambda x: x)
    assert out.shape == (16, fe.num_frames(8192))

"""Clips encoded on worker threads (media.AudioEncoder) decode to what a direct encode_audio gives,
from a copy taken at submit time, and finish after close()."""

from __future__ import annotations

import base64
import io

import numpy as np
import soundfile as sf
import torch

from audiovae.report.media import AudioEncoder, encode_audio


def _decode(uri: str) -> np.ndarray:
    return sf.read(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), dtype="float32")[0]


def test_encoder_threads_match_direct_encoding_and_copy_at_submit():
    t = torch.arange(16000) / 16000
    waves = [0.4 * torch.sin(2 * torch.pi * f * t) * torch.exp(-3 * t) for f in (220, 330, 495)]
    expected = [_decode(encode_audio(w, 16000).uri) for w in waves]
    encoder = AudioEncoder(16000, workers=2)
    futures = [encoder.submit(w) for w in waves]
    for w in waves:
        w.zero_()  # the caller reuses its buffers: the encoder must have taken a copy
    encoder.close()  # queued clips still finish
    for future, want in zip(futures, expected, strict=True):
        clip = future.result(timeout=60)
        assert clip.mime.startswith("audio/") and abs(clip.seconds - 1.0) < 1e-9
        np.testing.assert_array_equal(_decode(clip.uri), want)
        assert np.abs(want).max() > 0.1  # a real note came through, not the zeroed buffer

"""AudioVAE details the generation and extraction tests do not reach: work per clip is linear in
the number of clips, and the model knows the run folder it came from."""

from __future__ import annotations

import numpy as np
import torch

from audiovae.api import AudioVAE
from audiovae.downstream.extract import extract_features


def test_encode_cuts_an_array_to_windows_once_not_per_batch(trained_run):
    """Rows through `waveforms` stay 2 x n (the cut, then each batch), not batches x n."""
    vae = AudioVAE.load(trained_run[0], device="cpu")
    rows = []
    waveforms = vae.waveforms

    def counting(x):
        out = waveforms(x)
        rows.append(out.shape[0])
        return out

    vae.waveforms = counting
    audio = torch.randn(130, vae.clip_samples) * 0.1
    mu, _ = vae.encode(audio, batch_size=16)
    assert mu.shape == (130, vae.latent_dim) and sum(rows) <= 2 * 130, rows
    vae.waveforms = waveforms
    torch.testing.assert_close(mu[:16], vae.encode(audio[:16])[0])


def test_extract_with_a_loaded_model_records_its_run_folder(trained_run, tmp_path):
    from audiovae.audio.io import write_wav

    vae = AudioVAE.load(trained_run[0], device="cpu")
    t = np.arange(4000) / 16000
    wav = write_wav(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32),
                    16000)  # fmt: skip
    feats = extract_features(vae, wav, use_cache=False, progress=False)
    assert feats.model == str(trained_run[0].resolve())

"""The three graphs `audiovae export` writes, as plain nn.Modules over a trained model.

Each one is a function of tensors only (no Python-side chunking, shape checks or complex numbers),
so `torch.jit.trace` and `torch.onnx.export` see one straight-line graph with a free batch axis.
The front end is re-expressed without `torch.stft`: ONNX has no complex tensors, so the STFT is a
conv1d with a fixed windowed DFT basis that gives the real and imaginary parts directly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiovae.features.logmel import LogMelFrontEnd
from audiovae.models.conv import ConvVAE


class DFTLogMel(nn.Module):
    """LogMelFrontEnd without complex tensors: waveforms [batch, samples] -> log-mel
    [batch, n_mels, frames], via zero padding by n_fft // 2 on each side (the front end's centred
    frames, constant padding), a conv1d with the windowed DFT basis (stride hop_length),
    re*re + im*im, the same mel filterbank and log(max(mel, log_floor)).

    Example:
        >>> fe = LogMelFrontEnd(sample_rate=16000, n_mels=64)
        >>> x = torch.randn(2, 4096) * 0.1
        >>> bool((DFTLogMel(fe)(x) - fe(x)).abs().max() < 1e-3)
        True
    """

    def __init__(self, frontend: LogMelFrontEnd) -> None:
        super().__init__()
        n_fft = frontend.n_fft
        self.bins = n_fft // 2 + 1
        self.pad = n_fft // 2
        self.hop_length = frontend.hop_length
        self.log_floor = frontend.log_floor
        # k * n mod n_fft in integers, then the angle in float64: exact to float32 rounding.
        k = torch.arange(self.bins, dtype=torch.int64)[:, None]
        n = torch.arange(n_fft, dtype=torch.int64)[None, :]
        angle = (2 * math.pi / n_fft) * ((k * n) % n_fft).to(torch.float64)
        window = frontend.window.to(torch.float64)
        basis = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window])
        self.register_buffer("basis", basis.to(torch.float32)[:, None, :])  # [2*bins, 1, n_fft]
        self.register_buffer("mel_basis", frontend.mel_basis.detach().clone())  # [mels, bins]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(audio.unsqueeze(1), (self.pad, self.pad))
        spec = nn.functional.conv1d(x, self.basis, stride=self.hop_length)
        re, im = spec[:, : self.bins], spec[:, self.bins :]
        mel = torch.matmul(self.mel_basis, re * re + im * im)
        return mel.clamp_min(self.log_floor).log()


class _ConditionInput(nn.Module):
    """The model's condition embeddings, fed from the exported `condition` input: int64
    [batch, labels], one column per condition label in the model's order, each a value index.
    Holds only the parts of the model a graph uses, so no file carries unused weights."""

    def __init__(self, model: ConvVAE) -> None:
        super().__init__()
        self.normalizer = model.normalizer
        self.embeddings = model.embeddings
        self.labels = list(model.cfg.conditions)

    def condition_vector(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        """[batch, labels] value indices -> concatenated embeddings, as ConvVAE builds them."""
        if not self.labels:
            return None
        parts = [self.embeddings[name](condition[:, i]) for i, name in enumerate(self.labels)]
        return torch.cat(parts, dim=1)


class LogMelEncoder(_ConditionInput):
    """Raw log-mel [batch, n_mels, frames] (as AudioVAE.logmel returns it) -> posterior mean mu
    [batch, latent_dim]; the per-band normaliser is part of the graph."""

    def __init__(self, model: ConvVAE) -> None:
        super().__init__(model)
        self.encoder = model.encoder

    def forward(self, logmel: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        x = self.normalizer.normalize(logmel)
        return self.encoder(x, self.condition_vector(condition))[0]


class AudioEncoder(nn.Module):
    """Mono waveform [batch, clip_samples] at the model's rate -> posterior mean mu
    [batch, latent_dim]: DFTLogMel, then LogMelEncoder."""

    def __init__(self, model: ConvVAE, frontend: LogMelFrontEnd) -> None:
        super().__init__()
        self.frontend = DFTLogMel(frontend)
        self.encoder = LogMelEncoder(model)

    def forward(self, audio: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(self.frontend(audio), condition)


class LatentDecoder(_ConditionInput):
    """Latents [batch, latent_dim] -> log-mel [batch, n_mels, frames] in the units of
    AudioVAE.decode (denormalised natural-log mel power)."""

    def __init__(self, model: ConvVAE) -> None:
        super().__init__(model)
        self.decoder = model.decoder

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        x_hat = self.decoder(z, self.condition_vector(condition))
        return self.normalizer.denormalize(x_hat)

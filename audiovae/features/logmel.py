"""The log-mel front end: waveform batch -> log mel power, as a small device-agnostic nn.Module.

Layout chosen by measurement (shared/MEASURED.md): `torch.stft` with constant padding ->
`re*re + im*im` -> one matmul with the mel filterbank -> log with a floor. With the defaults below
it matches `librosa.feature.melspectrogram` (Slaney scale and norm, constant pad, periodic Hann).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torchaudio.functional as AF
from torch import nn


class LogMelFrontEnd(nn.Module):
    """Waveforms [batch, samples] (or [samples]) -> natural-log mel power [batch, n_mels, frames].

    Args:
        sample_rate: rate of the input audio in Hz.
        n_fft: FFT size and Hann window length.
        hop_length: samples between frames.
        n_mels: number of mel bands.
        f_min, f_max: band edges in Hz (`f_max=None` means sample_rate / 2).
        mel_scale: "slaney" (librosa's default) or "htk".
        norm: "slaney" (area-normalised filters, librosa's default) or None.
        log_floor: power floor before the log, so silence maps to log(log_floor), not -inf.
        chunk_samples: on CPU the batch is processed in chunks of about this many samples (16
            clips of 1 s, 4 of 4 s): larger chunks spill the STFT out of cache (2.7x slower per
            clip at 64 clips of 4 s), smaller ones leave a thread idle (2 clips of 4 s: 2.85x
            librosa, 4 clips: 3.9-4.2x, 8 clips: 3.7x; benchmarks/suite.py, 2 cores).

    Example:
        >>> fe = LogMelFrontEnd(sample_rate=16000, n_mels=64)
        >>> fe(torch.zeros(2, 16000)).shape
        torch.Size([2, 64, 63])
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 128,
        f_min: float = 0.0,
        f_max: float | None = None,
        mel_scale: Literal["slaney", "htk"] = "slaney",
        norm: Literal["slaney"] | None = "slaney",
        log_floor: float = 1e-5,
        chunk_samples: int = 2**18,
    ) -> None:
        super().__init__()
        f_max = float(sample_rate) / 2 if f_max is None else float(f_max)
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min}, f_max={f_max}, "
                f"sample_rate={sample_rate}"
            )
        if hop_length <= 0 or n_fft <= 0 or n_mels <= 0 or log_floor <= 0:
            raise ValueError("n_fft, hop_length, n_mels and log_floor must be positive")
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.f_min = float(f_min)
        self.f_max = f_max
        self.mel_scale = mel_scale
        self.norm = norm
        self.log_floor = float(log_floor)
        self.chunk_samples = int(chunk_samples)
        fbank = AF.melscale_fbanks(
            n_fft // 2 + 1, self.f_min, f_max, n_mels, sample_rate, norm=norm, mel_scale=mel_scale
        )
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.register_buffer("mel_basis", fbank.T.contiguous(), persistent=False)  # [mels, freqs]
        self._bands = []
        for i, (rows, lo, hi) in enumerate(_mel_bands(self.mel_basis)):
            name = f"_mel_band_{i}"
            self.register_buffer(name, self.mel_basis[rows, lo:hi].contiguous(), persistent=False)
            self._bands.append((name, lo, hi))

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of `num_samples` (centred frames, as librosa)."""
        return 1 + num_samples // self.hop_length

    def num_samples(self, seconds: float) -> int:
        """Samples in `seconds` of audio at this front end's rate."""
        return int(round(seconds * self.sample_rate))

    @property
    def log_floor_value(self) -> float:
        """The log-mel value of silence."""
        return math.log(self.log_floor)

    def mel_power(self, audio: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram |STFT|^2 @ filterbank, [batch, n_mels, frames]."""
        squeeze = audio.ndim == 1
        if squeeze:
            audio = audio.unsqueeze(0)
        if audio.ndim != 2:
            raise ValueError(f"expected audio [batch, samples], got shape {tuple(audio.shape)}")
        if audio.shape[-1] < self.n_fft // 2 + 1:
            raise ValueError(f"clip of {audio.shape[-1]} samples is shorter than n_fft/2+1")
        audio = audio.to(self.window.dtype)
        cpu = audio.device.type == "cpu"
        step = max(1, self.chunk_samples // audio.shape[-1]) if cpu else audio.shape[0]
        out = [self._mel_power_chunk(audio[i : i + step]) for i in range(0, audio.shape[0], step)]
        mel = torch.cat(out) if len(out) > 1 else out[0]
        return mel[0] if squeeze else mel

    def _mel_power_chunk(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            audio,
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real * spec.real + spec.imag * spec.imag
        if power.device.type != "cpu":
            return torch.matmul(self.mel_basis, power)
        # the filterbank is ~98% zeros: on CPU, project each group of 16 mels from only the
        # frequency bins it covers (3.5x librosa instead of 2.4x at 4 s / 128 mels)
        parts = [getattr(self, name) @ power[:, lo:hi] for name, lo, hi in self._bands]
        return torch.cat(parts, dim=1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Natural-log mel power with a floor: log(max(mel, log_floor))."""
        return self.mel_power(audio).clamp_min(self.log_floor).log()

    def config(self) -> dict:
        """The settings that define this front end (stored with models and cache keys)."""
        return {
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "n_mels": self.n_mels,
            "f_min": self.f_min,
            "f_max": self.f_max,
            "mel_scale": self.mel_scale,
            "norm": self.norm,
            "log_floor": self.log_floor,
        }


def _mel_bands(mel_basis: torch.Tensor, size: int = 16) -> list[tuple[slice, int, int]]:
    """Groups of `size` consecutive mel filters with the frequency-bin range [lo, hi) outside
    which all of them are zero (a filter with no support gets an empty range)."""
    bands = []
    for start in range(0, mel_basis.shape[0], size):
        rows = slice(start, min(start + size, mel_basis.shape[0]))
        nonzero = torch.nonzero(mel_basis[rows].abs().sum(dim=0) > 0).flatten()
        lo, hi = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.numel() else (0, 1)
        bands.append((rows, lo, hi))
    return bands

"""Audio in and out: load any libsndfile format, mix to mono, resample, pad or crop, write WAV."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from audiovae.errors import DataError

CropMode = Literal["start", "center", "random"]


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file as float32 [channels, samples] and its rate; DataError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: audio file not found")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types for corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot decode audio ({reason})") from None
    if data.shape[0] == 0:
        raise DataError(f"{path}: audio file holds no samples")
    if not np.isfinite(data).all():
        raise DataError(f"{path}: audio holds NaN or Inf samples")
    return np.ascontiguousarray(data.T), int(rate)


def to_mono(x: torch.Tensor) -> torch.Tensor:
    """Average the channels of [channels, samples] (or pass [samples] through)."""
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise ValueError(f"expected [channels, samples] or [samples], got shape {tuple(x.shape)}")
    return x.mean(dim=0)


def resample(x: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling along the last axis (torchaudio's windowed sinc); no-op if equal."""
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {new_rate}")
    if orig_rate == new_rate:
        return x
    return AF.resample(x, orig_rate, new_rate)


def fit_length(
    x: torch.Tensor,
    length: int,
    mode: CropMode = "start",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Zero-pad (at the end) or crop the last axis to `length` samples.

    `start` keeps the onset (right for NSynth notes), `center` the middle, `random` a uniformly
    drawn window (training-time augmentation; pass a seeded generator to make it reproducible).
    """
    if length <= 0:
        raise ValueError(f"length must be positive, got {length}")
    n = x.shape[-1]
    if n < length:
        return torch.nn.functional.pad(x, (0, length - n))
    if n == length:
        return x
    if mode == "start":
        offset = 0
    elif mode == "center":
        offset = (n - length) // 2
    elif mode == "random":
        offset = int(torch.randint(0, n - length + 1, (1,), generator=generator))
    else:
        raise ValueError(f"crop mode must be start, center or random, got {mode!r}")
    return x[..., offset : offset + length]


def load_audio(path: str | Path, sample_rate: int) -> torch.Tensor:
    """Load a file as a mono float32 tensor [samples] at `sample_rate`."""
    data, rate = read_audio(path)
    return resample(to_mono(torch.from_numpy(data)), rate, sample_rate).contiguous()


def write_wav(
    path: str | Path, audio: torch.Tensor | np.ndarray, sample_rate: int, subtype: str = "PCM_16"
) -> Path:
    """Write mono [samples] or [channels, samples] audio in [-1, 1] as a WAV file."""
    path = Path(path)
    data = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    data = data.astype(np.float32)
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: refusing to write audio with NaN or Inf samples")
    if data.ndim == 2:
        data = data.T
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(data, -1.0, 1.0), sample_rate, subtype=subtype)
    return path

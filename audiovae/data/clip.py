"""Load one clip for a data set: mono, at the target rate, cropped or padded, never silent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from audiovae.audio.io import fit_length, load_audio
from audiovae.errors import DataError

CROP_MODES = ("start", "center", "random")
SILENCE_PEAK = 1e-5


def check_clip_args(*, sample_rate: int, clip_samples: int, crop: str, min_samples: int) -> None:
    """Reject bad clip settings where they enter (a data-set builder), not at the first load."""
    for name, value in (
        ("sample_rate", sample_rate),
        ("clip_samples", clip_samples),
        ("min_samples", min_samples),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {', '.join(CROP_MODES)}, got {crop!r}")


def clip_generator(clip_id: str) -> torch.Generator:
    """A generator seeded from a clip's id, so a `random` crop picks the same window every build."""
    seed = int.from_bytes(hashlib.sha1(clip_id.encode("utf-8")).digest()[:8], "little")
    return torch.Generator().manual_seed(seed)


def load_clip(
    path: str | Path,
    *,
    sample_rate: int,
    clip_samples: int,
    crop: str = "start",
    min_samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Load a file as mono float32 [clip_samples] at `sample_rate`, cropped or zero-padded.

    Raises DataError (one line, naming the file) for unreadable, too short or silent audio, so a
    cache builder can skip the clip or stop, as its recipe says.
    """
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {', '.join(CROP_MODES)}, got {crop!r}")
    audio = load_audio(path, sample_rate)
    n = int(audio.shape[-1])
    if n < min_samples:
        raise DataError(
            f"{path}: too short ({n} samples at {sample_rate} Hz, need at least {min_samples})"
        )
    audio = fit_length(audio, clip_samples, crop, generator=generator).contiguous()
    peak = float(audio.abs().max())
    if peak < SILENCE_PEAK:
        raise DataError(f"{path}: silent (peak {peak:.1e})")
    return audio

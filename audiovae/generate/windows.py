"""Audio longer than the model's window: overlapping windows, processed, overlap-added.

Windows start every half window (rounded to whole STFT hops, so their frames line up with the
frames of the whole signal); each window's log-mel frames are blended with triangular weights that
fall to zero at the window's edges, where centred STFT frames see the window's zero padding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from audiovae.audio.io import fit_length
from audiovae.features.logmel import LogMelFrontEnd


def window_starts(n_samples: int, clip_samples: int, hop_length: int) -> list[int]:
    """Start samples of overlapping windows covering `n_samples` (one window if it fits)."""
    if n_samples <= clip_samples:
        return [0]
    hop = max(hop_length, (clip_samples // 2) // hop_length * hop_length)
    starts = list(range(0, n_samples - clip_samples + 1, hop))
    if starts[-1] + clip_samples < n_samples:
        starts.append(starts[-1] + hop)
    return starts


def windowed_logmel(
    audio: torch.Tensor,
    clip_samples: int,
    frontend: LogMelFrontEnd,
    transform: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Log-mel [n_mels, frames] of mono `audio` [samples] after `transform` was applied to each
    window's log-mel ([windows, n_mels, frames] -> same shape), blended across overlaps."""
    n = audio.shape[-1]
    starts = window_starts(n, clip_samples, frontend.hop_length)
    windows = torch.stack([fit_length(audio[s : s + clip_samples], clip_samples) for s in starts])
    out = transform(frontend(windows.to(frontend.window.device)))
    total_frames = frontend.num_frames(max(n, clip_samples))
    frames = out.shape[-1]
    # frames within n_fft/2 of a window's edge see its zero padding: they get no weight there
    edge = -(-frontend.n_fft // (2 * frontend.hop_length))
    ramp = torch.minimum(torch.arange(frames), torch.arange(frames - 1, -1, -1)).float() - edge + 1
    weight = (ramp.clamp_min(0) / ramp.max()).to(out.device)
    acc = torch.zeros(out.shape[1], total_frames + frames, device=out.device)
    norm = torch.zeros(total_frames + frames, device=out.device)
    for s, logmel in zip(starts, out, strict=True):
        f0 = s // frontend.hop_length
        w = weight if len(starts) > 1 else torch.ones_like(weight)
        if f0 == 0:  # the signal's own start: no blending partner on the left
            w = torch.where(torch.arange(frames, device=w.device) < frames // 2, 1.0, w)
        if s + clip_samples >= n:  # the signal's end
            w = torch.where(torch.arange(frames, device=w.device) >= frames // 2, 1.0, w)
        acc[:, f0 : f0 + frames] += logmel * w
        norm[f0 : f0 + frames] += w
    return (acc / norm.clamp_min(1e-6))[:, :total_frames]

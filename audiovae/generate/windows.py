"""Audio longer than the model's window: overlapping windows, processed, overlap-added.

Windows start every half window (rounded to whole STFT hops, so their frames line up with the
frames of the whole signal); each window's log-mel frames are blended with triangular weights that
fall to zero at the window's edges, where centred STFT frames see the window's zero padding.
Several signals are cut into windows together, so the front end and the model see one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def cut_windows(
    audios: Sequence[torch.Tensor], clip_samples: int, hop_length: int
) -> tuple[torch.Tensor, list[list[int]]]:
    """Windows [total, clip_samples] of every mono signal in `audios`, one after another, and
    each signal's window starts (how many rows of the batch are its own)."""
    starts = [window_starts(a.shape[-1], clip_samples, hop_length) for a in audios]
    windows = [
        fit_length(a[s : s + clip_samples], clip_samples)
        for a, st in zip(audios, starts, strict=True)
        for s in st
    ]
    return torch.stack(windows), starts


def blend_windows(
    logmels: torch.Tensor,
    starts: list[int],
    n_samples: int,
    clip_samples: int,
    frontend: LogMelFrontEnd,
) -> torch.Tensor:
    """Log-mel [n_mels, frames] of one signal of `n_samples` from its windows' log-mels
    [windows, n_mels, frames] (starting at `starts`), overlap-added with triangular weights."""
    total_frames = frontend.num_frames(max(n_samples, clip_samples))
    frames = logmels.shape[-1]
    # frames within n_fft/2 of a window's edge see its zero padding: they get no weight there
    edge = -(-frontend.n_fft // (2 * frontend.hop_length))
    ramp = torch.minimum(torch.arange(frames), torch.arange(frames - 1, -1, -1)).float() - edge + 1
    weight = (ramp.clamp_min(0) / ramp.max()).to(logmels.device)
    acc = torch.zeros(logmels.shape[1], total_frames + frames, device=logmels.device)
    norm = torch.zeros(total_frames + frames, device=logmels.device)
    index = torch.arange(frames, device=logmels.device)
    for s, logmel in zip(starts, logmels, strict=True):
        f0 = s // frontend.hop_length
        w = weight if len(starts) > 1 else torch.ones_like(weight)
        if f0 == 0:  # the signal's own start: no blending partner on the left
            w = torch.where(index < frames // 2, 1.0, w)
        if s + clip_samples >= n_samples:  # the signal's end
            w = torch.where(index >= frames // 2, 1.0, w)
        acc[:, f0 : f0 + frames] += logmel * w
        norm[f0 : f0 + frames] += w
    return (acc / norm.clamp_min(1e-6))[:, :total_frames]


def windowed_logmels(
    audios: Sequence[torch.Tensor],
    clip_samples: int,
    frontend: LogMelFrontEnd,
    transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]],
) -> list[list[torch.Tensor]]:
    """For each transform, the blended log-mel [n_mels, frames] of every signal in `audios`: the
    windows of all signals go through the front end once and through each transform
    ([windows, n_mels, frames] -> same shape) as one batch."""
    windows, starts = cut_windows(audios, clip_samples, frontend.hop_length)
    front = frontend(windows.to(frontend.window.device))
    out = []
    for transform in transforms:
        batch = transform(front)
        rows, per_signal = 0, []
        for audio, st in zip(audios, starts, strict=True):
            part = batch[rows : rows + len(st)]
            per_signal.append(blend_windows(part, st, audio.shape[-1], clip_samples, frontend))
            rows += len(st)
        out.append(per_signal)
    return out


def windowed_logmel(
    audio: torch.Tensor,
    clip_samples: int,
    frontend: LogMelFrontEnd,
    transform: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Log-mel [n_mels, frames] of mono `audio` [samples] after `transform` was applied to each
    window's log-mel ([windows, n_mels, frames] -> same shape), blended across overlaps."""
    return windowed_logmels([audio], clip_samples, frontend, [transform])[0][0]

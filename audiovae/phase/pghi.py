"""Phase Gradient Heap Integration (Prusa, Balazs & Sondergaard 2017), vectorised, as a GL start.

For a Gaussian window exp(-pi t^2 / gamma) the STFT phase gradient follows from the gradient of
the log magnitude s = log|X| (Portnoff 1979; Prusa et al. 2017). Written for the
centred, frame-relative STFT used here (librosa's and torch.stft's convention), with k the bin,
t the frame, a the hop and M = n_fft:

    dphi/dt (k, t) = 2 pi a k / M + (a M / gamma) ds/dk           (instantaneous frequency)
    dphi/dk (k, t) = -(gamma / (a M)) ds/dt - pi                   (local group delay)

The -pi of the second line is the linear phase of a window centred at M/2 in its frame. A Hann
window of length M is close to a Gaussian with gamma = 0.25645 M^2 (Prusa et al. 2017).

The paper integrates these gradients from the largest coefficient outward with a heap. This is a
vectorised approximation that keeps its two rules, done frame by frame (a loop over frames only,
batched over clips and bins): each spectral peak of a frame continues its phase in time from the
previous frame (trapezoidal rule on dphi/dt), and every other bin takes the phase of the peak
whose slope it lies on plus the integral of dphi/dk from that peak (the heap would reach it from
that peak through bins of falling magnitude). Bins below `tol` times the clip's peak are left at
the integrated value of the floor, which is harmless as a Griffin-Lim start.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

HANN_GAMMA = 0.25645
"""gamma / n_fft^2 of the Gaussian that best matches a Hann window (Prusa et al. 2017)."""


def _gradients(log_mag: Tensor, n_fft: int, hop: int, gamma: float) -> tuple[Tensor, Tensor]:
    """Frames-major log magnitude [batch, frames, freqs] -> (dphi/dt, dphi/dk), same shape."""
    bins = torch.arange(log_mag.shape[-1], device=log_mag.device, dtype=log_mag.dtype)
    ds_dk = torch.gradient(log_mag, dim=2)[0]
    if log_mag.shape[1] > 1:
        ds_dt = torch.gradient(log_mag, dim=1)[0]
    else:
        ds_dt = torch.zeros_like(log_mag)
    dphi_dt = (2 * math.pi * hop / n_fft) * bins + (hop * n_fft / gamma) * ds_dk
    dphi_dk = (-gamma / (hop * n_fft)) * ds_dt - math.pi
    return dphi_dt, dphi_dk


def pghi_phase(
    magnitude: Tensor,
    n_fft: int,
    hop_length: int,
    gamma: float | None = None,
    tol: float = 1e-5,
) -> Tensor:
    """STFT magnitude [batch, freqs, frames] -> phase estimate (radians), same shape.

    Phase-gradient integration after Prusa, Balazs & Sondergaard (2017), vectorised frame by
    frame; `gamma` defaults to 0.25645 * n_fft**2 (Hann), `tol` is relative to each clip's peak.
    """
    squeeze = magnitude.ndim == 2
    if squeeze:
        magnitude = magnitude.unsqueeze(0)
    if magnitude.ndim != 3 or magnitude.shape[1] != n_fft // 2 + 1:
        raise ValueError(
            f"expected magnitude [batch, {n_fft // 2 + 1}, frames] for n_fft={n_fft}, "
            f"got shape {tuple(magnitude.shape)}"
        )
    if hop_length <= 0:
        raise ValueError(f"hop_length must be positive, got {hop_length}")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    gamma = HANN_GAMMA * n_fft**2 if gamma is None else float(gamma)
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    dtype = magnitude.dtype if magnitude.is_floating_point() else torch.float32
    mag = magnitude.to(dtype).transpose(1, 2)  # [batch, frames, freqs]
    batch, frames, freqs = mag.shape
    tiny = torch.finfo(dtype).tiny
    log_mag = mag.clamp_min(tiny).log()
    peak = log_mag.amax(dim=(1, 2), keepdim=True)
    log_mag = torch.maximum(log_mag, peak + math.log(tol))
    dphi_dt, dphi_dk = _gradients(log_mag, n_fft, hop_length, gamma)

    # along frequency: Phi[k] = integral of dphi/dk from bin 0 to bin k (trapezoid), per frame
    steps = 0.5 * (dphi_dk[..., 1:] + dphi_dk[..., :-1])
    freq_integral = torch.cat([torch.zeros_like(steps[..., :1]), steps.cumsum(-1)], dim=-1)
    # the peak each bin hangs from: climb towards the larger neighbour until a local maximum
    idx = torch.arange(freqs, device=mag.device)
    left = torch.nn.functional.pad(mag[..., :-1], (1, 0), value=-1.0)
    right = torch.nn.functional.pad(mag[..., 1:], (0, 1), value=-1.0)
    is_peak = (mag >= left) & (mag >= right)
    prev_peak = torch.where(is_peak, idx, -1).cummax(dim=-1).values
    next_peak = torch.where(is_peak, idx, freqs).flip(-1).cummin(dim=-1).values.flip(-1)
    uphill_right = right > left
    anchor = torch.where(uphill_right | (prev_peak < 0), next_peak, prev_peak)
    anchor = anchor.clamp(0, freqs - 1)
    anchor_integral = torch.gather(freq_integral, -1, anchor)

    # along time: peaks advance by the trapezoid of dphi/dt, other bins follow their peak
    two_pi = 2 * math.pi
    advance = torch.remainder(0.5 * (dphi_dt[:, 1:] + dphi_dt[:, :-1]), two_pi)
    offset = freq_integral - anchor_integral  # phase of each bin relative to its peak
    phase = torch.empty_like(mag)
    phase[:, 0] = offset[:, 0]  # frame 0: every peak starts at phase 0
    for t in range(1, frames):
        peak_phase = torch.gather(phase[:, t - 1] + advance[:, t - 1], -1, anchor[:, t])
        torch.add(peak_phase.remainder_(two_pi), offset[:, t], out=phase[:, t])
    out = torch.remainder(phase + math.pi, 2 * math.pi) - math.pi
    out = out.transpose(1, 2)
    return out[0] if squeeze else out

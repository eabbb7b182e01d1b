"""Mel power -> linear magnitude by batched non-negative least squares.

The mel filterbank B [mels, freqs] maps linear power x >= 0 to mel power m = B x. With fewer mels
than frequency bins the inverse is underdetermined; like `librosa.feature.inverse.mel_to_stft` we
take a non-negative least-squares solution, min ||B x - m||^2 s.t. x >= 0, and return sqrt(x).

librosa solves it with L-BFGS-B, which costs ~70% of its whole mel -> audio time
(shared/MEASURED.md). Here every frame of every clip is one column of a single batched problem:
a pseudo-inverse warm start, clamped at zero, then `n_iter` projected-gradient FISTA steps
(Beck & Teboulle 2009) with the constant step 1/L, L = ||B||_2^2. Each step is two matmuls over
all frames at once, so the cost is a few large GEMMs instead of a per-frame optimiser; the mel
filters being narrow bands, each GEMM is split into 4 band groups that touch only their bins.

FISTA is stopped early on purpose. On two sets of 48 synthetic notes (1 s, n_fft 1024, 128
mels) the magnitude's spectral convergence against the true |STFT| was 0.35 at the clamped
pseudo-inverse, 0.19 after 10 steps, 0.128/0.112 after 20, 0.124/0.127 after 30 and 0.136
after 100; end to end (PGHI start, 32 FGLA iterations) 20 steps gave 0.100/0.090 and 30 steps
0.105/0.107. The problem is underdetermined (128 equations for 513 bins), its exact NNLS
optimum is not the best estimate of the true spectrum, and the smooth warm start regularises.
Unlike
L-BFGS-B with absolute tolerances, the iteration is scale-invariant (the output is positively
homogeneous in the input), so quiet and loud clips are inverted equally well.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_GROUPS = 4  # band groups of the mel filters (measured: 4 beats 2 and 8 at batch 1 and 32)


def _band_groups(basis: Tensor, count: int) -> list[tuple[int, int, int, int]]:
    """Split the mel rows into <= `count` consecutive groups of about equal bin span.

    Returns (first mel, end mel, first bin, end bin) per group; the bin range covers every
    non-zero of the group's rows, so the grouped products are exact for any basis.
    """
    mels, freqs = basis.shape
    nonzero = basis != 0
    has = nonzero.any(dim=1)
    first = torch.where(has, nonzero.to(torch.int8).argmax(dim=1), freqs).tolist()
    last = torch.where(has, freqs - nonzero.flip(1).to(torch.int8).argmax(dim=1), 0).tolist()
    span = max(last) - min(first) if bool(has.any()) else 0
    target = max(1.0, span / count)
    groups, start = [], 0
    while start < mels:
        end, lo, hi = start, freqs, 0
        while end < mels:
            lo, hi = min(lo, first[end]), max(hi, last[end])
            end += 1
            if hi - lo >= target and len(groups) < count - 1:
                break
        groups.append((start, end, min(lo, hi), hi))
        start = end
    return groups


def _check_basis(mel_basis: Tensor) -> None:
    if mel_basis.ndim != 2:
        raise ValueError(f"mel_basis must be [mels, freqs], got shape {tuple(mel_basis.shape)}")
    if mel_basis.shape[0] > mel_basis.shape[1]:
        raise ValueError(
            f"mel_basis must be [mels, freqs] with mels <= freqs, got {tuple(mel_basis.shape)}"
        )


class MelInverse(nn.Module):
    """Reusable NNLS mel inverse: holds B, its pseudo-inverse and 1/L so each call is GEMMs only.

    Args:
        mel_basis: the filterbank [mels, freqs] that produced the mel power (non-negative).
        n_iter: FISTA steps after the pseudo-inverse warm start (0: clamped pseudo-inverse).

    Example:
        >>> from audiovae.features.logmel import LogMelFrontEnd
        >>> fe = LogMelFrontEnd(n_mels=64)
        >>> inv = MelInverse(fe.mel_basis)
        >>> inv(fe.mel_power(torch.randn(1, 4096))).shape
        torch.Size([1, 513, 17])
    """

    def __init__(self, mel_basis: Tensor, n_iter: int = 20) -> None:
        super().__init__()
        _check_basis(mel_basis)
        if n_iter < 0:
            raise ValueError(f"n_iter must be >= 0, got {n_iter}")
        self.n_iter = int(n_iter)
        basis64 = mel_basis.detach().to(torch.float64)
        # L = sigma_max(B)^2: the Lipschitz constant of the gradient B^T (B x - m)
        lipschitz = float(torch.linalg.matrix_norm(basis64, ord=2)) ** 2
        if not lipschitz > 0:
            raise ValueError("mel_basis is all zeros")
        dtype = mel_basis.dtype if mel_basis.is_floating_point() else torch.float32
        self.lipschitz = lipschitz
        self.register_buffer("basis", mel_basis.detach().to(dtype), persistent=False)
        # mel filters are narrow bands: B is ~2% non-zero. Splitting the mels into groups that
        # each touch one contiguous range of bins makes the two GEMMs per step ~4x cheaper.
        self.groups = _band_groups(basis64, _GROUPS)
        for g, (first_mel, end_mel, lo, hi) in enumerate(self.groups):
            block = basis64[first_mel:end_mel, lo:hi]
            self.register_buffer(f"block{g}", block.to(dtype).contiguous(), persistent=False)
            self.register_buffer(
                f"block{g}_over_l", (block / lipschitz).to(dtype), persistent=False
            )
        # pinv(B)^T [mels, freqs]: the warm start of a row m is m @ pinv(B)^T
        self.register_buffer(
            "pinv_t", torch.linalg.pinv(basis64).T.to(dtype).contiguous(), persistent=False
        )

    def forward(self, mel_power: Tensor, n_iter: int | None = None) -> Tensor:
        """[batch, mels, frames] (or [mels, frames]) mel power -> linear magnitude, same layout."""
        squeeze = mel_power.ndim == 2
        if squeeze:
            mel_power = mel_power.unsqueeze(0)
        if mel_power.ndim != 3 or mel_power.shape[1] != self.basis.shape[0]:
            raise ValueError(
                f"expected mel power [batch, {self.basis.shape[0]}, frames], "
                f"got shape {tuple(mel_power.shape)}"
            )
        steps = self.n_iter if n_iter is None else int(n_iter)
        batch, mels, frames = mel_power.shape
        # frames-major rows: every frame of every clip is one row of a single GEMM
        m = mel_power.to(self.basis.dtype).transpose(1, 2).reshape(batch * frames, mels)
        power = self.solve_rows(m, steps)
        out = power.sqrt_().reshape(batch, frames, -1).transpose(1, 2)
        return out[0] if squeeze else out

    def solve_rows(self, m: Tensor, steps: int) -> Tensor:
        """NNLS for rows m [rows, mels] -> power [rows, freqs] (FISTA, Beck & Teboulle 2009).

        x_k = max(0, y_k - (y_k B^T - m) B / L);  t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2;
        y_{k+1} = x_k + (t_k - 1) / t_{k+1} (x_k - x_{k-1}).
        """
        blocks = [
            (a, b, lo, hi, getattr(self, f"block{g}"), getattr(self, f"block{g}_over_l"))
            for g, (a, b, lo, hi) in enumerate(self.groups)
        ]
        x = torch.matmul(m, self.pinv_t).clamp_min_(0.0)  # pseudo-inverse warm start
        y, t = x, 1.0
        for _ in range(steps):
            # residual y B^T - m and step y - residual B / L, one band group at a time
            residual = torch.cat(
                [
                    torch.addmm(m[:, a:b], y[:, lo:hi], blk.T, beta=-1.0)
                    for a, b, lo, hi, blk, _ in blocks
                ],
                dim=1,
            )
            x_new = y.clone()
            for a, b, lo, hi, _, blk_l in blocks:
                x_new[:, lo:hi].addmm_(residual[:, a:b], blk_l, alpha=-1.0)
            x_new.clamp_min_(0.0)
            t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
            # y = x_new + (t - 1) / t_new * (x_new - x), as one lerp past x_new
            y = torch.lerp(x, x_new, 1.0 + (t - 1.0) / t_new)
            x, t = x_new, t_new
        return x


def mel_to_linear(mel_power: Tensor, mel_basis: Tensor, n_iter: int = 20) -> Tensor:
    """[batch, mels, frames] mel power -> [batch, freqs, frames] linear magnitude (NNLS, sqrt).

    Pseudo-inverse warm start + `n_iter` projected-gradient FISTA steps, step 1/||B||_2^2
    (Beck & Teboulle 2009); all frames of all clips are solved together. Build a `MelInverse`
    once instead when calling repeatedly (it caches the pseudo-inverse and the band blocks).
    """
    return MelInverse(mel_basis.to(mel_power.device), n_iter=n_iter)(mel_power)

"""The vocoder-free mel -> audio stage: log-mel -> NNLS linear magnitude -> phase start -> FGLA.

    exp (floor -> 0) -> mel_inverse.MelInverse (pseudo-inverse + FISTA) -> pghi.pghi_phase
    -> griffin_lim.griffin_lim (fast Griffin-Lim, momentum 0.99)

Defaults chosen by measurement on a 2-core CPU (torch 2 threads). Quality is the spectral
convergence (SC) of |STFT(output)| against the TRUE |STFT| of the original clip, mean over two
sets of 48 synthetic notes (1 s at 16 kHz, n_fft 1024, hop 256, 128 mels); librosa's
`mel_to_audio` (32 iterations) scored 0.30 on the benchmark's notes. Time is ms per clip on the
32 notes of benchmarks/bench_mel_to_audio.py (batch 1 / batch 32), median of 5 interleaved
rounds (OMP_WAIT_POLICY=PASSIVE; relative costs are what matter, absolute times vary 2x with
the machine's load). On CPU at batch 1 one torch thread is as fast as two (~10-11 ms per clip).

    nnls_iter  n_iter  phase   SC (set 1 / set 2)   ms per clip b1 / b32
    20         16      pghi    0.110 / 0.095        11.8 /  8.7
    20         32      pghi    0.100 / 0.090        15.8 / 13.6   <- defaults
    20         64      pghi    0.094 / 0.088        23.4 / 22.3
    30         32      pghi    0.105 / 0.107        18.3 / 15.0
    20         32      random  0.126 / 0.122        about 1 ms less than pghi

- nnls_iter 20: FISTA is stopped early on purpose (mel_inverse's docstring has the curve);
  10 gave 0.132 / -, 30 and more were worse and slower.
- n_iter 32: librosa's default, so that the benchmark compares equal iteration counts; 64 buys
  ~0.004 SC for 1.5x the time.
- phase_init "pghi": the phase-gradient start is worth 0.026 / 0.032 SC at 32 iterations (more
  than 32 further iterations from a random start: 0.106 / 0.100 at 64) for ~1 ms per clip.
- momentum 0.99 (Perraudin et al. 2013): 0.100 / 0.090, vs 0.101 / 0.090 at 0.9, 0.108 / 0.094
  at 0.5 and 0.114 / 0.097 without momentum (pghi start); from a random start 0.99 is worth 0.07.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from audiovae.features.logmel import LogMelFrontEnd
from audiovae.phase.griffin_lim import griffin_lim
from audiovae.phase.mel_inverse import MelInverse
from audiovae.phase.pghi import pghi_phase

_FLOOR_TOL = 1e-4  # relative slack when recognising log-mel values at the front end's floor


class MelToAudio(nn.Module):
    """Natural-log mel power [batch, mels, frames] (as LogMelFrontEnd outputs) -> waveform.

    Args:
        frontend: the LogMelFrontEnd that produced the log-mels (its filterbank, window, n_fft,
            hop and floor are used).
        n_iter: fast Griffin-Lim iterations.
        nnls_iter: FISTA steps of the mel -> linear NNLS after the pseudo-inverse warm start.
        phase_init: "pghi" (phase-gradient integration) or "random" (uniform, like librosa).
        momentum: FGLA momentum alpha (Perraudin et al. 2013); 0 gives plain Griffin-Lim.

    The output is raw (no gain, no normalisation). Values at the front end's log floor are taken
    as silence (zero power), so a floored log-mel decodes to exact zeros.

    Example:
        >>> fe = LogMelFrontEnd(n_mels=64)
        >>> stage = MelToAudio(fe, n_iter=4)
        >>> stage(fe(torch.randn(2, 8000)), length=8000).shape
        torch.Size([2, 8000])
    """

    def __init__(
        self,
        frontend: LogMelFrontEnd,
        n_iter: int = 32,
        nnls_iter: int = 20,
        phase_init: Literal["pghi", "random"] = "pghi",
        momentum: float = 0.99,
    ) -> None:
        super().__init__()
        if phase_init not in ("pghi", "random"):
            raise ValueError(f"phase_init must be 'pghi' or 'random', got {phase_init!r}")
        if n_iter < 0 or nnls_iter < 0:
            raise ValueError(f"n_iter and nnls_iter must be >= 0, got {n_iter}, {nnls_iter}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.n_fft = frontend.n_fft
        self.hop_length = frontend.hop_length
        self.n_mels = frontend.n_mels
        self.log_floor = frontend.log_floor
        self.n_iter = int(n_iter)
        self.phase_init = phase_init
        self.momentum = float(momentum)
        self.mel_inverse = MelInverse(frontend.mel_basis, n_iter=nnls_iter)
        self.register_buffer("window", frontend.window.detach().clone(), persistent=False)

    def mel_power(self, logmel: Tensor) -> Tensor:
        """Undo the front end's log: exp, with values at the floor mapped to zero power."""
        floor = math.log(self.log_floor)
        floor += _FLOOR_TOL * abs(floor)  # float32 rounding of log(floor) stays below this
        return torch.where(logmel > floor, logmel.exp(), torch.zeros_like(logmel))

    def magnitude(self, logmel: Tensor) -> Tensor:
        """Log-mel [batch, mels, frames] -> linear STFT magnitude [batch, freqs, frames]."""
        return self.mel_inverse(self.mel_power(logmel))

    def forward(
        self,
        logmel: Tensor,
        length: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """[batch, mels, frames] natural-log mel power -> [batch, samples] raw waveform."""
        squeeze = logmel.ndim == 2
        if squeeze:
            logmel = logmel.unsqueeze(0)
        if logmel.ndim != 3 or logmel.shape[1] != self.n_mels:
            raise ValueError(
                f"expected log-mel [batch, {self.n_mels}, frames], got shape {tuple(logmel.shape)}"
            )
        if not logmel.is_floating_point():
            raise ValueError(f"log-mel must be floating point, got {logmel.dtype}")
        magnitude = self.magnitude(logmel)
        phase = None
        if self.phase_init == "pghi":
            phase = pghi_phase(magnitude, self.n_fft, self.hop_length)
        audio = griffin_lim(
            magnitude,
            self.n_fft,
            self.hop_length,
            self.window,
            n_iter=self.n_iter,
            momentum=self.momentum,
            init_phase=phase,
            length=length,
            generator=generator,
        )
        return audio[0] if squeeze else audio

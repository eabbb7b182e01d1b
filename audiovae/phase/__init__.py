"""Vocoder-free mel -> audio: NNLS mel inversion, PGHI phase start, fast Griffin-Lim.

    MelToAudio(frontend)(logmel, length=...)  # [batch, mels, frames] log-mel -> [batch, samples]

The pieces are usable on their own: `mel_to_linear` / `MelInverse` (mel power -> linear
magnitude), `pghi_phase` (magnitude -> initial phase) and `griffin_lim` (magnitude -> audio).
"""

from audiovae.phase.griffin_lim import griffin_lim
from audiovae.phase.mel_inverse import MelInverse, mel_to_linear
from audiovae.phase.pghi import pghi_phase
from audiovae.phase.stage import MelToAudio

__all__ = ["MelInverse", "MelToAudio", "griffin_lim", "mel_to_linear", "pghi_phase"]

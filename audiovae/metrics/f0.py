"""Pitch of rendered notes by pYIN, against a target MIDI pitch: what a listener would call the
note, scored in cents (mir_eval's raw-pitch-accuracy convention: within +-50 cents is a hit).

pYIN (Mauch & Dixon, ICASSP 2014, `librosa.pyin`) runs on one analysis window of the sustained
part of each note (`sustained_window`): after the attack, before the release, at most 1 s, which
bounds its cost (about 0.2 s of CPU per window here). Its pitch grid is 10 cents
(`RESOLUTION_SEMITONES`), so an estimate carries up to ~5-8 cents of quantisation.

    >>> reading = note_pitch(waves, 16000, targets=[60, 64])   # doctest: +SKIP
    >>> reading.hit                                            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HIT_CENTS = 50.0  # the +-50-cent convention (mir_eval raw pitch accuracy)
RESOLUTION_SEMITONES = 0.1  # pYIN pitch grid; 0.05 costs ~4x more for 2-3 cents
FRAME_LENGTH = 2048  # 128 ms at 16 kHz: periods down to ~30 Hz fit the YIN window
HOP_LENGTH = 256
MAX_WINDOW_S = 1.0
ONSET_SKIP = 0.1  # skip this fraction of the clip (at most 0.2 s) as the attack
HOLD_FRACTION = 0.75  # NSynth and the synthetic notes release the key at 3/4 of the clip


@dataclass
class PitchReading:
    """Per note: signed cents of the median voiced f0 from the target (NaN when unvoiced), the
    fraction of voiced frames, and whether it is a hit (|cents| <= HIT_CENTS; unvoiced: a miss)."""

    cents: np.ndarray
    voiced_fraction: np.ndarray

    @property
    def unvoiced(self) -> np.ndarray:
        return ~np.isfinite(self.cents)

    @property
    def hit(self) -> np.ndarray:
        return self.abs_cents <= HIT_CENTS

    @property
    def abs_cents(self) -> np.ndarray:
        """|cents| with unvoiced notes as +inf (worse than any voiced error)."""
        return np.where(self.unvoiced, np.inf, np.abs(np.nan_to_num(self.cents)))

    def summary(self) -> dict[str, float | int]:
        """Hit rate, median |cents| (unvoiced count as infinitely wrong), unvoiced count."""
        n = len(self.cents)
        median = float(np.median(self.abs_cents)) if n else float("nan")
        return {
            "within_50_cents": float(self.hit.mean()) if n else float("nan"),
            "median_abs_cents": median if np.isfinite(median) else None,
            "unvoiced": int(self.unvoiced.sum()),
            "notes": n,
        }


def sustained_window(clip_samples: int, sample_rate: int) -> tuple[int, int]:
    """(start, stop) samples of the analysis window: after the attack (a tenth of the clip, at
    most 0.2 s), before the release at 3/4 of the clip, at most MAX_WINDOW_S long."""
    start = int(min(ONSET_SKIP * clip_samples, 0.2 * sample_rate))
    stop = int(min(HOLD_FRACTION * clip_samples, start + MAX_WINDOW_S * sample_rate))
    if stop - start < FRAME_LENGTH // 2:  # very short clips: analyse all of it
        start, stop = 0, clip_samples
    return start, stop


def cents(f0_hz: np.ndarray, midi: np.ndarray | float) -> np.ndarray:
    """Signed cents of frequencies from MIDI pitches: 1200 log2(f0 / f(midi)), f(69) = 440 Hz."""
    ref = 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)
    return 1200.0 * np.log2(np.asarray(f0_hz, dtype=np.float64) / ref)


def note_pitch(
    waves: np.ndarray,
    sample_rate: int,
    targets: Sequence[float] | np.ndarray,
    *,
    midi_range: tuple[float, float] | None = None,
    window: tuple[int, int] | None = None,
) -> PitchReading:
    """pYIN f0 of each wave [n, samples] over its sustained window, scored against `targets`
    (MIDI). The search range is `midi_range` (default: the targets' range widened by an octave
    each way), the same for every note so the target cannot steer the estimate."""
    import librosa

    waves = np.atleast_2d(np.asarray(waves, dtype=np.float32))
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != (waves.shape[0],):
        raise ValueError(f"need one target pitch per wave, got {targets.shape} for {waves.shape}")
    if waves.shape[0] == 0:
        return PitchReading(np.zeros(0), np.zeros(0))
    lo, hi = midi_range or (float(targets.min()) - 12.0, float(targets.max()) + 12.0)
    start, stop = window or sustained_window(waves.shape[1], sample_rate)
    segment = waves[:, start:stop]
    if segment.shape[1] < FRAME_LENGTH:
        segment = np.pad(segment, ((0, 0), (0, FRAME_LENGTH - segment.shape[1])))
    f0, voiced, _ = librosa.pyin(
        segment,
        fmin=float(librosa.midi_to_hz(lo)),
        fmax=float(librosa.midi_to_hz(hi)),
        sr=sample_rate,
        frame_length=FRAME_LENGTH,
        hop_length=HOP_LENGTH,
        resolution=RESOLUTION_SEMITONES,
        center=False,
    )
    out = np.full(len(targets), np.nan)
    for i in range(len(targets)):
        frames = f0[i][voiced[i] & np.isfinite(f0[i])]
        if len(frames):
            out[i] = float(np.median(cents(frames, targets[i])))
    return PitchReading(out, voiced.mean(axis=1).astype(np.float64))

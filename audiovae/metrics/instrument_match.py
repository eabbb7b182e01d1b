"""Whose instrument does a swap sound like? The nearest real note at B's pitch tells.

"A's timbre at B's pitch" should sound like A's instrument playing B's note. Each output is
compared with the real notes of the held-out instruments at B's pitch (and B's velocity where the
data has that label and such notes exist), by Euclidean distance between standardised
`pooled_logmel` features (the standardisation fitted on the training instruments' real notes).
The instrument of the nearest real note is what the output is heard as: "instrument kept" when it
is A's, "took B's" when it is B's; chance is one over the number of instruments among the
candidates. A pair is scored only when A's instrument has a real note among them.

Unlike the family classifier this needs no family labels and no classifier that generalises to
unseen instruments, so it stays informative where families are broad (General MIDI presets), and
it asks the stricter question: A's instrument, not just A's family. Only real notes are ever
references; the model's outputs are only ever queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class NoteReferences:
    """Real notes that outputs are matched against: standardised features and their labels."""

    features: np.ndarray  # [m, f], already standardised
    pitch: np.ndarray  # [m]
    instrument: np.ndarray  # [m]
    velocity: np.ndarray | None  # [m] or None when the data has no velocity label
    mean: np.ndarray  # [f] of the standardisation (fitted on training instruments' notes)
    scale: np.ndarray  # [f]

    @classmethod
    def build(cls, features: np.ndarray, pitch: np.ndarray, instrument: np.ndarray,
              velocity: np.ndarray | None, fit_features: np.ndarray) -> NoteReferences:  # fmt: skip
        """References from raw pooled features; `fit_features` (the training instruments' real
        notes) give the per-feature mean and standard deviation."""
        fit = np.asarray(fit_features, dtype=np.float64)
        mean = fit.mean(axis=0)
        scale = fit.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        return cls((np.asarray(features, dtype=np.float64) - mean) / scale, np.asarray(pitch),
                   np.asarray(instrument), None if velocity is None else np.asarray(velocity),
                   mean, scale)  # fmt: skip

    def candidates(self, pitch: float, velocity: Any = None) -> np.ndarray:
        """Indices of the references at `pitch` (and `velocity`, when given and present)."""
        at_pitch = np.flatnonzero(self.pitch == pitch)
        if velocity is None or self.velocity is None:
            return at_pitch
        same = at_pitch[self.velocity[at_pitch] == velocity]
        return same if len(same) else at_pitch


@dataclass
class InstrumentMatch:
    """Per output: the instrument heard (None: no reference at that pitch), how many
    instruments it was chosen among, and whether A's instrument was one of them."""

    heard: np.ndarray  # [n] object
    choices: np.ndarray  # [n] int
    a_present: np.ndarray  # [n] bool

    def summary(self, a_instrument: np.ndarray, b_instrument: np.ndarray | None) -> dict:
        """instrument_kept / _took_b / _chance over the scorable pairs (A's instrument among
        the candidates and at least 2 instruments to choose from)."""
        ok = self.a_present & (self.choices >= 2)
        out: dict[str, Any] = {"instrument_pairs": int(ok.sum())}
        if not ok.any():
            out.update(instrument_kept=None, instrument_took_b=None, instrument_chance=None)
            return out
        heard = self.heard[ok]
        out["instrument_kept"] = float(np.mean(heard == np.asarray(a_instrument)[ok]))
        out["instrument_took_b"] = (
            None if b_instrument is None else float(np.mean(heard == np.asarray(b_instrument)[ok]))
        )
        out["instrument_chance"] = float(np.mean(1.0 / self.choices[ok]))
        return out


def nearest_instrument(refs: NoteReferences, features: np.ndarray, pitch: np.ndarray,
                       a_instrument: np.ndarray, velocity: np.ndarray | None = None
                       ) -> InstrumentMatch:  # fmt: skip
    """Match raw pooled features [n, f] of outputs meant to play `pitch` [n] (at `velocity`)
    against the references; `a_instrument` [n] is whose instrument each output should be."""
    n = len(features)
    queries = np.asarray(features, dtype=np.float64)
    queries = (queries.reshape(n, len(refs.mean)) - refs.mean) / refs.scale if n else queries
    heard = np.full(n, None, dtype=object)
    choices = np.zeros(n, dtype=np.int64)
    a_present = np.zeros(n, dtype=bool)
    for i in range(n):
        cand = refs.candidates(pitch[i], None if velocity is None else velocity[i])
        if len(cand) == 0:
            continue
        distance = np.square(refs.features[cand] - queries[i]).sum(axis=1)
        heard[i] = refs.instrument[cand[int(np.argmin(distance))]]
        choices[i] = len(np.unique(refs.instrument[cand]))
        a_present[i] = bool(np.any(refs.instrument[cand] == a_instrument[i]))
    return InstrumentMatch(heard, choices, a_present)


def reference_rows(refs_rows: np.ndarray, refs: NoteReferences, a_instrument: np.ndarray,
                   pitch: np.ndarray, velocity: np.ndarray | None = None
                   ) -> np.ndarray:  # fmt: skip
    """For each pair, the data row of A's instrument's real note at B's pitch (and velocity when
    there is one; the first such note), -1 where A has none: the notes the ceiling plays."""
    out = np.full(len(a_instrument), -1, dtype=np.int64)
    for i in range(len(a_instrument)):
        cand = refs.candidates(pitch[i], None if velocity is None else velocity[i])
        mine = cand[refs.instrument[cand] == a_instrument[i]]
        if len(mine):
            out[i] = refs_rows[mine[0]]
    return out

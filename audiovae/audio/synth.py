"""Synthetic instrument notes with known factors of variation, in NSynth's format.

Every note is one cell of a full factorial grid: pitch x family x instrument-within-family x
velocity x vibrato depth. Because each factor is known exactly, a VAE trained on these notes can be
scored for disentanglement, and probes can be scored on held-out instruments as on real NSynth.

The sound model is additive: a family fixes the partial series (harmonic, drawbar subset or the
modes of a free bar), the envelope style (plucked, struck, blown, bowed) and the spectral shape;
each instrument of a family draws six continuous timbre parameters from the family's ranges, from
the seed and its own index only, so instrument k of a family sounds the same whatever grid it is
rendered in:

    partial k: ratio r_k = m_k sqrt(1 + B m_k^2) / sqrt(1 + B)   (stiff string, Fletcher 1964)
    level_k (dB) = tilt * log2(m_k) + odd_even * [k even] + formant boosts at r_k f0
    envelope_k(t) = (1 - exp(-t / attack_k)) exp(-t / decay_k), then a release at 3/4 of the note

Velocity sets the peak level (6 dB per 25 velocity steps, velocity 127 at 0.9 full scale) and
brightens the spectrum a little. Vibrato is a 5.5 Hz sinusoidal frequency modulation whose phase
is accumulated by cumsum. Per-note nuisance (detune of a few cents, partial phases, vibrato phase,
noise) is drawn from the seed and the note's identity, never from its position in the grid.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiovae.audio.io import write_wav

GENERATOR_VERSION = 1
"""Bump whenever a change alters rendered audio or records (feature caches key on it)."""

FAMILY_IDS: dict[str, int] = {
    "bass": 0,
    "brass": 1,
    "flute": 2,
    "guitar": 3,
    "keyboard": 4,
    "mallet": 5,
    "organ": 6,
    "reed": 7,
    "string": 8,
    "synth_lead": 9,
    "vocal": 10,
}
QUALITY_NAMES: tuple[str, ...] = (
    "bright",
    "dark",
    "distortion",
    "fast_decay",
    "long_release",
    "multiphonic",
    "nonlinear_env",
    "percussive",
    "reverb",
    "tempo-synced",
)
TIMBRE_FIELDS: tuple[str, ...] = (
    "timbre_tilt_db",
    "timbre_odd_even",
    "timbre_formant_hz",
    "timbre_attack_s",
    "timbre_decay_s",
    "timbre_inharmonicity",
)
SOURCE_SYNTHETIC = 2
VIBRATO_RATE_HZ = 5.5
MAX_PARTIAL_HZ_FRACTION = 0.45  # partials at or above 0.45 * sample rate are dropped
HOLD_FRACTION = 0.75  # like NSynth (3 s held of 4 s), the key is released at 3/4 of the note
PEAK = 0.9  # peak of a velocity-127 note; every note peaks at PEAK * velocity_gain(velocity)
NOISE_FLOOR_DB = -60.0  # white noise floor relative to the note's peak
DETUNE_CENTS = 5.0  # per-note detune drawn uniformly in +-DETUNE_CENTS
_BAR_MODES = (1.0, 2.756, 5.404, 8.933, 13.344, 18.64)  # free-free bar (Fletcher & Rossing, ch. 2)
_DRAWBARS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)  # 8', 4', 2 2/3', 2', 1 3/5', 1 1/3', 1'
_BLOCK = 256  # samples per block of the phase computation (keeps float32 phases exact)
_SCRATCH = threading.local()  # per-thread scratch arrays, see _workspace


@dataclass(frozen=True)
class _Family:
    """How one family sounds; each (lo, hi) pair is the range its instruments are drawn from."""

    tilt_db: tuple[float, float]  # dB per octave of partial number
    odd_even: tuple[float, float]  # dB added to even-numbered partials
    formant_hz: tuple[float, float]  # centre of the main resonance (or of the breath noise)
    attack_s: tuple[float, float]  # attack time constant
    decay_s: tuple[float, float]  # decay time constant of the first partial while held
    inharmonicity: tuple[float, float] = (0.0, 0.0)  # stiffness B of the ratio formula
    modes: tuple[float, ...] | None = None  # partial series m_k; None: harmonics 1, 2, 3, ...
    max_partials: int = 48
    formant_gain_db: float = 6.0
    formant_width_oct: float = 0.8  # standard deviation of the Gaussian boost, in octaves
    formant_ratios: tuple[float, ...] = (1.0,)  # further formants at these multiples
    partial_decay_slope: float = 0.0  # decay rate_k = rate_1 * (1 + slope * (m_k - 1))
    partial_attack_slope: float = 0.0  # attack_k = attack_1 * (1 + slope * sqrt(m_k - 1))
    velocity_brightness: float = 2.0  # dB/octave of tilt per 75 velocity steps above 100
    release_s: float = 0.08
    noise_db: float | None = None  # shaped noise relative to the tonal peak; None: none
    noise_hz: float | None = None  # centre of the noise band; None: the formant
    noise_width_oct: float = 1.0
    noise_burst_s: float | None = None  # decay of a noise burst at onset; None: sustained
    qualities: tuple[str, ...] = ()


_FAMILIES: dict[str, _Family] = {
    # plucked: instant attack, exponential decay, high partials die first, stiff-string stretch
    "guitar": _Family(
        tilt_db=(-8.0, -4.0),
        odd_even=(-4.0, 2.0),
        formant_hz=(150.0, 400.0),
        attack_s=(0.001, 0.004),
        decay_s=(0.35, 1.0),
        inharmonicity=(2e-5, 2e-4),
        max_partials=40,
        formant_gain_db=6.0,
        formant_width_oct=1.0,
        partial_decay_slope=0.3,
        velocity_brightness=3.0,
        release_s=0.15,
        noise_db=-22.0,
        noise_hz=2500.0,
        noise_width_oct=1.2,
        noise_burst_s=0.004,
        qualities=("fast_decay",),
    ),
    # bowed: slow attack, sawtooth-like spectrum, bridge resonance, a little bow noise
    "string": _Family(
        tilt_db=(-7.0, -4.5),
        odd_even=(-2.0, 2.0),
        formant_hz=(1800.0, 3200.0),
        attack_s=(0.08, 0.2),
        decay_s=(4.0, 12.0),
        formant_gain_db=8.0,
        formant_width_oct=0.6,
        partial_attack_slope=0.15,
        release_s=0.12,
        noise_db=-36.0,
    ),
    # clarinet-like: odd harmonics dominate
    "reed": _Family(
        tilt_db=(-6.0, -3.0),
        odd_even=(-26.0, -14.0),
        formant_hz=(1100.0, 2200.0),
        attack_s=(0.02, 0.05),
        decay_s=(5.0, 12.0),
        max_partials=40,
        formant_gain_db=5.0,
        formant_width_oct=0.7,
        velocity_brightness=3.0,
        release_s=0.06,
    ),
    # brass: dark when soft, bright when loud, high partials enter late in the attack
    "brass": _Family(
        tilt_db=(-11.0, -7.0),
        odd_even=(-2.0, 1.0),
        formant_hz=(900.0, 1600.0),
        attack_s=(0.03, 0.07),
        decay_s=(5.0, 10.0),
        max_partials=40,
        formant_gain_db=6.0,
        formant_width_oct=0.8,
        partial_attack_slope=0.7,
        velocity_brightness=8.0,
        release_s=0.08,
    ),
    # flute: few harmonics and breath noise
    "flute": _Family(
        tilt_db=(-20.0, -13.0),
        odd_even=(-4.0, 3.0),
        formant_hz=(1500.0, 3000.0),
        attack_s=(0.04, 0.1),
        decay_s=(6.0, 12.0),
        max_partials=8,
        formant_gain_db=0.0,
        velocity_brightness=3.0,
        release_s=0.08,
        noise_db=-27.0,
    ),
    # struck bar: inharmonic modes, higher modes decay much faster, a click at the strike
    "mallet": _Family(
        tilt_db=(-7.0, -2.0),
        odd_even=(-8.0, 0.0),
        formant_hz=(600.0, 1600.0),
        attack_s=(0.0005, 0.002),
        decay_s=(0.25, 0.8),
        inharmonicity=(0.0, 1.5e-3),
        modes=_BAR_MODES,
        formant_gain_db=6.0,
        formant_width_oct=1.0,
        partial_decay_slope=0.9,
        velocity_brightness=4.0,
        release_s=0.5,
        noise_db=-14.0,
        noise_hz=3500.0,
        noise_width_oct=1.5,
        noise_burst_s=0.003,
        qualities=("fast_decay", "percussive"),
    ),
    # organ: a flat, sustained drawbar mix with a key click
    "organ": _Family(
        tilt_db=(-5.0, 0.0),
        odd_even=(-6.0, 3.0),
        formant_hz=(800.0, 2500.0),
        attack_s=(0.004, 0.01),
        decay_s=(30.0, 60.0),
        modes=_DRAWBARS,
        formant_gain_db=3.0,
        formant_width_oct=1.0,
        velocity_brightness=1.0,
        release_s=0.03,
        noise_db=-30.0,
        noise_hz=4000.0,
        noise_burst_s=0.002,
    ),
    # voice: a glottal-like harmonic source through three vowel formants, slight aspiration
    "vocal": _Family(
        tilt_db=(-13.0, -10.0),
        odd_even=(-2.0, 2.0),
        formant_hz=(450.0, 750.0),
        attack_s=(0.05, 0.12),
        decay_s=(4.0, 10.0),
        formant_gain_db=16.0,
        formant_width_oct=0.25,
        formant_ratios=(1.0, 1.6, 3.7),
        release_s=0.1,
        noise_db=-38.0,
        noise_hz=3000.0,
    ),
}
SYNTH_FAMILIES: tuple[str, ...] = tuple(_FAMILIES)
"""Families the generator renders (NSynth's bass, keyboard and synth_lead are not modelled)."""


def _plain(value: Any, kind: type) -> Any:
    """numpy scalars (np.arange pitches, ...) as plain int or float; anything else unchanged."""
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind is int and integral:
        return int(value)
    if kind is float and (integral or isinstance(value, numbers.Real)):
        return float(value)
    return value


@dataclass(frozen=True)
class SynthConfig:
    """The grid of notes to generate and how to render them; the seed fixes every random draw."""

    pitches: tuple[int, ...] = tuple(range(48, 72))
    families: tuple[str, ...] = (
        "guitar",
        "string",
        "reed",
        "brass",
        "flute",
        "mallet",
        "organ",
        "vocal",
    )
    instruments_per_family: int = 3
    velocities: tuple[int, ...] = (25, 50, 75, 100)
    vibrato_depths: tuple[float, ...] = (0.0, 0.4)
    sample_rate: int = 16000
    seconds: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        # lists (from YAML or JSON) become tuples so configs stay hashable and compare equal
        for name in ("pitches", "families", "velocities", "vibrato_depths"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise ValueError(f"SynthConfig.{name} must be a sequence, got {value!r}")
            value = tuple(_plain(x, float if name == "vibrato_depths" else int) for x in value)
            if not value:
                raise ValueError(f"SynthConfig.{name} must not be empty")
            if len(set(value)) != len(value):
                raise ValueError(f"SynthConfig.{name} holds duplicates: {value}")
            object.__setattr__(self, name, value)
        unknown = [f for f in self.families if f not in _FAMILIES]
        if unknown:
            raise ValueError(
                f"SynthConfig.families: unknown {unknown}; valid: {', '.join(SYNTH_FAMILIES)}"
            )
        if not isinstance(self.sample_rate, int) or self.sample_rate < 1000:
            raise ValueError(
                f"SynthConfig.sample_rate must be an int >= 1000, got {self.sample_rate}"
            )
        if not (isinstance(self.seconds, (int, float)) and 0 < self.seconds <= 60):
            raise ValueError(f"SynthConfig.seconds must be in (0, 60], got {self.seconds}")
        if round(self.seconds * self.sample_rate) < 1:
            raise ValueError("SynthConfig.seconds * sample_rate must be at least one sample")
        for v in self.velocities:
            if type(v) is not int or not 1 <= v <= 127:
                raise ValueError(f"SynthConfig.velocities: {v!r} must be a MIDI int in 1..127")
        for d in self.vibrato_depths:
            if not isinstance(d, (int, float)) or not 0 <= d <= 2:
                raise ValueError(f"SynthConfig.vibrato_depths: {d!r} must be in [0, 2] semitones")
        # the fundamental, at its highest (detune and vibrato), must stay below the partial limit
        limit = 69 + 12 * math.log2(MAX_PARTIAL_HZ_FRACTION * self.sample_rate / 440.0)
        headroom = max(self.vibrato_depths) + DETUNE_CENTS / 100.0
        for p in self.pitches:
            if type(p) is not int or not 0 <= p <= 127 or p + headroom >= limit:
                raise ValueError(
                    f"SynthConfig.pitches: {p!r} must be a MIDI int in 0..127 whose fundamental "
                    f"(with vibrato) lies below {MAX_PARTIAL_HZ_FRACTION} * sample_rate"
                )
        if not isinstance(self.instruments_per_family, int) or not (
            1 <= self.instruments_per_family <= 1000
        ):
            raise ValueError(
                f"SynthConfig.instruments_per_family must be an int in 1..1000, "
                f"got {self.instruments_per_family!r}"
            )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"SynthConfig.seed must be a non-negative int, got {self.seed!r}")

    @property
    def num_samples(self) -> int:
        """Length of every rendered note in samples."""
        return round(self.seconds * self.sample_rate)


def velocity_gain(velocity: int) -> float:
    """Linear gain of a velocity: 0.24 dB per step, 0 dB at 127 (25/50/75/100 are 6 dB apart)."""
    return 10.0 ** (0.24 * (velocity - 127) / 20.0)


def instrument_timbre(family: str, index: int, seed: int) -> dict[str, float]:
    """The six timbre parameters of instrument `index` of `family`: drawn from seed, family, index.

    Depends on nothing else, so an instrument is the same sound in every grid it appears in.
    """
    if family not in _FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(SYNTH_FAMILIES)}")
    spec = _FAMILIES[family]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, FAMILY_IDS[family], index]))
    ranges = (
        spec.tilt_db,
        spec.odd_even,
        spec.formant_hz,
        spec.attack_s,
        spec.decay_s,
        spec.inharmonicity,
    )
    draws = rng.uniform(size=len(ranges))
    return {
        name: float(lo + u * (hi - lo))
        for name, (lo, hi), u in zip(TIMBRE_FIELDS, ranges, draws, strict=True)
    }


def note_table(config: SynthConfig) -> list[dict]:
    """One NSynth-format record per note of the full factorial grid, plus vibrato and timbre fields.

    note_str is NSynth's `<instrument_str>-<pitch>-<velocity>`; when the config holds more than one
    vibrato depth, `-v<index>` is appended, because NSynth's key has no slot for the extra factor.
    `note` numbers the grid's notes; `instrument` is family id * 1000 + index, the same in any grid.
    """
    records: list[dict] = []
    tag_vibrato = len(config.vibrato_depths) > 1
    for family in config.families:
        spec = _FAMILIES[family]
        qualities = [int(q in spec.qualities) for q in QUALITY_NAMES]
        qualities_str = [q for q in QUALITY_NAMES if q in spec.qualities]
        family_id = FAMILY_IDS[family]
        for k in range(config.instruments_per_family):
            instrument_str = f"{family}_synthetic_{k:03d}"
            timbre = instrument_timbre(family, k, config.seed)
            for pitch in config.pitches:
                for velocity in config.velocities:
                    for v_index, depth in enumerate(config.vibrato_depths):
                        note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
                        if tag_vibrato:
                            note_str += f"-v{v_index}"
                        records.append(
                            {
                                "note": len(records),
                                "note_str": note_str,
                                "instrument": family_id * 1000 + k,
                                "instrument_str": instrument_str,
                                "pitch": int(pitch),
                                "velocity": int(velocity),
                                "sample_rate": config.sample_rate,
                                "qualities": list(qualities),
                                "qualities_str": list(qualities_str),
                                "instrument_family": family_id,
                                "instrument_family_str": family,
                                "instrument_source": SOURCE_SYNTHETIC,
                                "instrument_source_str": "synthetic",
                                "vibrato": float(depth),
                                **timbre,
                            }
                        )
    return records


def _note_rng(note: dict, seed: int) -> np.random.Generator:
    """Nuisance generator of one note, keyed by the note's identity (not its grid position)."""
    vibrato_key = int(round(float(note["vibrato"]) * 1_000_000))
    key = [seed, 2, int(note["instrument"]), int(note["pitch"]), int(note["velocity"]), vibrato_key]
    return np.random.default_rng(np.random.SeedSequence(key))


def _cycles(f0: float, depth: float, vib_phase: float, n: int, sr: int) -> np.ndarray:
    """Accumulated phase of the first partial in cycles [n] (float64), vibrato included."""
    if depth == 0.0:
        return np.arange(n, dtype=np.float64) * (f0 / sr)
    t = np.arange(n, dtype=np.float64) / sr
    freq = f0 * np.exp2(depth / 12.0 * np.sin(2 * np.pi * VIBRATO_RATE_HZ * t + vib_phase))
    cycles = np.empty(n, dtype=np.float64)
    cycles[0] = 0.0
    np.cumsum(freq[:-1] / sr, out=cycles[1:])
    return cycles


def _workspace(slot: int, shape: tuple[int, int]) -> np.ndarray:
    """A reusable float32 scratch array of `shape`, one per slot and thread.

    Rendering needs two [partials, samples] arrays per note; allocating them afresh costs more
    in page faults than the arithmetic itself, so they are kept between notes (up to 64 MiB).
    """
    size = shape[0] * shape[1]
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    buffer = buffers.get(slot)
    if buffer is None or buffer.size < size:
        buffer = np.empty(size, dtype=np.float32)
        if size * 4 <= 64 * 2**20:
            buffers[slot] = buffer
    return buffer[:size].reshape(shape)


def _tone(
    ratios: np.ndarray,
    phases: np.ndarray,
    amps: np.ndarray,
    cycles: np.ndarray,
    envelope: tuple[np.ndarray, np.ndarray] | np.ndarray,
    sr: int,
) -> np.ndarray:
    """Sum of partials amps_k env_k(t) sin(2 pi r_k cycles(t) + phase_k) as float32 [samples].

    `envelope` is either one shared envelope [samples] or per-partial (attack_k, rate_k) of
    env_k(t) = (1 - exp(-t / attack_k)) exp(-rate_k t). The phase is split per block of _BLOCK
    samples into an exact float64 offset, wrapped to one cycle, and a small float32 increment, so
    float32 sines stay exact however long the note is.
    """
    n, count = cycles.shape[0], len(ratios)
    blocks = -(-n // _BLOCK)
    length = blocks * _BLOCK
    padded = np.empty(length, dtype=np.float64)
    padded[:n] = cycles
    padded[n:] = cycles[-1]
    padded = padded.reshape(blocks, _BLOCK)
    starts = padded[:, 0]
    offsets = np.mod(np.multiply.outer(ratios, starts), 1.0).astype(np.float32)  # [k, blocks]
    within = (padded - starts[:, None]).astype(np.float32)  # [blocks, _BLOCK]
    sines = _workspace(0, (count, length)).reshape(count, blocks, _BLOCK)
    np.multiply(within[None, :, :], ratios.astype(np.float32)[:, None, None], out=sines)
    sines += offsets[:, :, None]
    sines *= np.float32(2 * np.pi)
    sines += phases.astype(np.float32)[:, None, None]
    np.sin(sines, out=sines)
    if isinstance(envelope, np.ndarray):
        return (amps @ sines.reshape(count, length))[:n] * envelope
    # exp(-c t) = exp(-c t_block) exp(-c t_within): two small tables instead of count x length exps
    attack, rate = envelope
    t_block = np.arange(blocks, dtype=np.float64) * (_BLOCK / sr)
    t_within = np.arange(_BLOCK, dtype=np.float64) / sr

    def tables(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outer, inner = np.exp(-np.outer(c, t_block)), np.exp(-np.outer(c, t_within))
        outer[outer < 1e-30] = 0.0  # no float32 subnormals (slow arithmetic)
        return outer.astype(np.float32)[:, :, None], inner.astype(np.float32)[:, None, :]

    decay_outer, decay_inner = tables(rate)
    sines *= decay_outer
    sines *= decay_inner
    onset = _workspace(1, (count, length)).reshape(count, blocks, _BLOCK)
    np.multiply(*tables(1.0 / attack), out=onset)  # exp(-t / attack_k)
    np.subtract(np.float32(1.0), onset, out=onset)
    sines *= onset
    return (amps @ sines.reshape(count, length))[:n]


def _shaped_noise(rng: np.random.Generator, n: int, sr: int, centre: float, width_oct: float):
    """White noise through a Gaussian band (in log frequency) around `centre`, unit peak-RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    octaves = np.log2(np.maximum(freqs, 1.0) / centre)
    spectrum *= np.exp(-0.5 * (octaves / width_oct) ** 2)
    noise = np.fft.irfft(spectrum, n)
    rms = np.sqrt(np.mean(noise**2))
    return (noise / rms if rms > 0 else noise).astype(np.float32)


def render_note(note: dict, config: SynthConfig) -> np.ndarray:
    """Render one record of note_table as float32 [config.num_samples], peak <= 0.9.

    Reads pitch, velocity, vibrato, family and timbre from the record; the nuisance comes from the
    config's seed and the note's identity, so the same record always gives the same samples.
    """
    required = ("instrument", "instrument_family_str", "pitch", "velocity", "vibrato")
    missing = [f for f in (*required, *TIMBRE_FIELDS) if f not in note]
    if missing:
        raise ValueError(f"note record lacks field(s) {missing}; build records with note_table()")
    family = note["instrument_family_str"]
    if family not in _FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(SYNTH_FAMILIES)}")
    spec = _FAMILIES[family]
    sr, n = config.sample_rate, config.num_samples
    pitch, velocity, depth = int(note["pitch"]), int(note["velocity"]), float(note["vibrato"])
    tilt = float(note["timbre_tilt_db"])
    odd_even = float(note["timbre_odd_even"])
    formant = float(note["timbre_formant_hz"])
    attack = float(note["timbre_attack_s"])
    decay = float(note["timbre_decay_s"])
    stiffness = float(note["timbre_inharmonicity"])

    rng = _note_rng(note, config.seed)
    detune = rng.uniform(-DETUNE_CENTS, DETUNE_CENTS)
    vib_phase = rng.uniform(0.0, 2 * np.pi)
    f0 = 440.0 * 2.0 ** ((pitch - 69 + detune / 100.0) / 12.0)

    # partial series, stretched by stiffness and renormalised so the first partial sits at f0
    if spec.modes is None:
        modes = np.arange(1, spec.max_partials + 1, dtype=np.float64)
    else:
        modes = np.asarray(spec.modes[: spec.max_partials], dtype=np.float64)
    ratios = modes * np.sqrt(1.0 + stiffness * modes**2) / math.sqrt(1.0 + stiffness)
    peak_ratio = 2.0 ** (depth / 12.0)  # highest instantaneous frequency under vibrato
    keep = ratios * f0 * peak_ratio < MAX_PARTIAL_HZ_FRACTION * sr
    keep[0] = True  # config validation guarantees the fundamental is below the limit
    modes, ratios = modes[keep], ratios[keep]
    numbers = np.arange(1, len(keep) + 1)[keep]  # 1-based partial numbers (odd/even)

    # spectral shape in dB: tilt (brighter when louder), odd/even balance, formant boosts
    tilt_eff = tilt + spec.velocity_brightness * (velocity - 100) / 75.0
    level_db = tilt_eff * np.log2(modes) + np.where(numbers % 2 == 0, odd_even, 0.0)
    freqs = ratios * f0
    for r in spec.formant_ratios:
        octaves = np.log2(freqs / (formant * r))
        level_db += spec.formant_gain_db * np.exp(-0.5 * (octaves / spec.formant_width_oct) ** 2)
    level_db -= level_db.max()
    audible = level_db > -80.0
    modes, ratios, level_db = modes[audible], ratios[audible], level_db[audible]
    amps = (10.0 ** (level_db / 20.0)).astype(np.float32)
    phases = rng.uniform(0.0, 2 * np.pi, size=len(ratios))

    # envelopes: one shared attack/decay unless the family gives partials their own times
    t = np.arange(n, dtype=np.float32) / np.float32(sr)
    if spec.partial_attack_slope == 0.0 and spec.partial_decay_slope == 0.0:
        envelope = np.exp(-t / np.float32(decay)) * -np.expm1(-t / np.float32(attack))
    else:
        attack_k = attack * (1.0 + spec.partial_attack_slope * np.sqrt(modes - 1.0))
        rate_k = (1.0 / decay) * (1.0 + spec.partial_decay_slope * (modes - 1.0))
        envelope = (attack_k, rate_k)
    cycles = _cycles(f0, depth, vib_phase, n, sr)
    tone = _tone(ratios, phases, amps, cycles, envelope, sr)
    release = np.ones(n, dtype=np.float32)
    off = int(round(HOLD_FRACTION * n))
    release[off:] = np.exp(-(t[off:] - t[off]) / np.float32(spec.release_s))
    tone *= release
    tone_peak = float(np.max(np.abs(tone)))

    signal = tone
    if spec.noise_db is not None:
        centre = min(spec.noise_hz or formant, 0.4 * sr)
        level = np.float32(10.0 ** (spec.noise_db / 20.0) * tone_peak)
        if spec.noise_burst_s is None:  # sustained (breath, bow): follows attack and release
            noise = _shaped_noise(rng, n, sr, centre, spec.noise_width_oct)
            noise *= -np.expm1(-t / np.float32(attack)) * release
            signal += level * noise
        else:  # a burst at the onset (pluck, strike, key click): only its first ~15 decays
            m = min(n, int(15 * spec.noise_burst_s * sr) + 1)
            noise = _shaped_noise(rng, m, sr, centre, spec.noise_width_oct)
            noise *= np.exp(-t[:m] / np.float32(spec.noise_burst_s))
            signal[:m] += level * noise
    floor = 10.0 ** (NOISE_FLOOR_DB / 20.0) * float(np.max(np.abs(signal)))
    signal = signal + np.float32(floor) * rng.standard_normal(n, dtype=np.float32)
    # scale in float64 so that rounding to float32 cannot lift the peak above its target
    scale = PEAK * velocity_gain(velocity) / float(np.max(np.abs(signal)))
    return (signal.astype(np.float64) * scale).astype(np.float32)


def render_notes(notes: list[dict], config: SynthConfig) -> np.ndarray:
    """Render several records as float32 [len(notes), config.num_samples]."""
    out = np.empty((len(notes), config.num_samples), dtype=np.float32)
    for i, note in enumerate(notes):
        out[i] = render_note(note, config)
    return out


def write_nsynth_folder(out_dir: str | Path, config: SynthConfig, progress: bool = True) -> Path:
    """Write the grid as an NSynth jsonwav split: examples.json and audio/<note_str>.wav (16-bit).

    Lets every NSynth tool (loader, cache, probes) run on notes with known factors.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    records = note_table(config)
    for record in tqdm(records, desc=f"synth -> {out_dir}", unit="note", disable=not progress):
        write_wav(
            audio_dir / f"{record['note_str']}.wav", render_note(record, config), config.sample_rate
        )
    examples = {record["note_str"]: record for record in records}
    tmp = out_dir / "examples.json.tmp"
    with open(tmp, "w") as handle:
        json.dump(examples, handle, indent=4)
    tmp.replace(out_dir / "examples.json")  # written last: a complete examples.json means done
    return out_dir


def config_fingerprint(config: SynthConfig) -> dict[str, Any]:
    """JSON-able description of the generator and config (tuples as lists) for cache keys."""
    fields = {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }
    return {"generator": "audiovae.synth", "version": GENERATOR_VERSION, **fields}

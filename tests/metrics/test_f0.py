"""The pYIN pitch measure against tones of known frequency (an independent ground truth)."""

from __future__ import annotations

import numpy as np
import pytest

from audiovae.metrics.f0 import PitchReading, cents, note_pitch, sustained_window

SR = 16000


def tone(midi: float, seconds: float = 1.0, harmonics: int = 4) -> np.ndarray:
    """A harmonic tone whose fundamental is exactly MIDI `midi` (440 Hz at 69)."""
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, harmonics + 1))
    return (0.3 * wave).astype(np.float32)


def test_cents_against_hand_values():
    assert cents(440.0, 69) == pytest.approx(0.0)
    assert cents(880.0, 69) == pytest.approx(1200.0)
    assert cents(440.0 * 2 ** (1 / 12), 69) == pytest.approx(100.0)


def test_recovers_a_tones_pitch_within_5_cents_and_a_semitone_shift_is_a_miss():
    waves = np.stack([tone(57), tone(57), tone(50), tone(64)])
    reading = note_pitch(waves, SR, [57, 58, 50, 63], midi_range=(40, 76))
    assert abs(reading.cents[0]) <= 5 and abs(reading.cents[2]) <= 5
    assert reading.cents[1] == pytest.approx(-100, abs=5)  # a semitone flat of the target
    assert reading.cents[3] == pytest.approx(100, abs=5)
    assert reading.hit.tolist() == [True, False, True, False]
    assert (reading.voiced_fraction[[0, 2]] > 0.9).all()


def test_detuned_tone_read_within_the_10_cent_grid():
    reading = note_pitch(tone(57.3)[None], SR, [57], midi_range=(40, 76))
    assert reading.cents[0] == pytest.approx(30, abs=10)
    assert reading.hit[0]


def test_unvoiced_output_is_a_recorded_miss():
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    waves = np.stack([np.zeros(SR, np.float32), noise, tone(60)])
    reading = note_pitch(waves, SR, [60, 60, 60], midi_range=(40, 76))
    assert reading.unvoiced.tolist() == [True, True, False]
    assert reading.hit.tolist() == [False, False, True]
    summary = reading.summary()
    assert summary["unvoiced"] == 2 and summary["within_50_cents"] == pytest.approx(1 / 3)
    assert summary["median_abs_cents"] is None  # 2 of 3 unvoiced: the median is "infinitely wrong"


def test_summary_median_counts_unvoiced_as_worst():
    reading = PitchReading(np.array([10.0, -30.0, np.nan]), np.ones(3))
    assert reading.summary()["median_abs_cents"] == pytest.approx(30.0)
    assert reading.summary()["within_50_cents"] == pytest.approx(2 / 3)


def test_sustained_window_skips_attack_and_release():
    assert sustained_window(4 * SR, SR) == (int(0.2 * SR), int(1.2 * SR))
    start, stop = sustained_window(SR // 2, SR)
    assert start == SR // 20 and stop == int(0.75 * SR // 2)


def test_needs_one_target_per_wave():
    with pytest.raises(ValueError, match="one target"):
        note_pitch(np.zeros((2, SR)), SR, [60])

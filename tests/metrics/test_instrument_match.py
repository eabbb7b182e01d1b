"""Nearest real note at B's pitch: standardisation, candidates and the summary, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from audiovae.metrics.instrument_match import (
    NoteReferences,
    nearest_instrument,
    reference_rows,
)


def references() -> NoteReferences:
    # training notes: feature 0 spreads with sd 100, feature 1 with sd 1 (means 0)
    fit = np.array([[100.0, 1.0], [-100.0, -1.0], [100.0, -1.0], [-100.0, 1.0]])
    features = np.array(
        [
            [0.0, 0.0],  # x at 60, velocity 50
            [60.0, 2.0],  # y at 60, velocity 50
            [0.0, 9.0],  # z at 60, velocity 100
            [0.0, 0.0],  # x at 62, velocity 50
        ]
    )
    return NoteReferences.build(
        features,
        pitch=np.array([60, 60, 60, 62]),
        instrument=np.array(["x", "y", "z", "x"]),
        velocity=np.array(["50", "50", "100", "50"]),
        fit_features=fit,
    )


def test_standardised_distance_decides():
    refs = references()
    np.testing.assert_allclose(refs.mean, [0.0, 0.0])
    np.testing.assert_allclose(refs.scale, [100.0, 1.0])
    # query (50, 1.6): raw distance to y (60, 2) is ~10.0 and to x 50.0, so raw says y; in
    # standardised units x is at (0.5^2 + 1.6^2) = 2.81 and y at (0.1^2 + 0.4^2) = 0.17: still y.
    # query (0, 1.4): standardised x 1.96 vs y 0.36 + 0.36 = 0.72 -> y; raw x 1.96 vs y 3600 -> x
    match = nearest_instrument(refs, np.array([[50.0, 1.6], [0.0, 1.4]]), np.array([60, 60]),
                               np.array(["x", "x"]), np.array(["50", "50"]))  # fmt: skip
    assert list(match.heard) == ["y", "y"]
    assert list(match.choices) == [2, 2]  # velocity 50 at pitch 60: x and y only
    assert list(match.a_present) == [True, True]


def test_candidates_follow_pitch_and_velocity():
    refs = references()
    assert list(refs.candidates(60, "50")) == [0, 1]
    assert list(refs.candidates(60, "100")) == [2]
    assert list(refs.candidates(60, "127")) == [0, 1, 2]  # no note at that velocity: any
    assert list(refs.candidates(60)) == [0, 1, 2]
    assert list(refs.candidates(61, "50")) == []


def test_summary_counts_only_scorable_pairs():
    refs = references()
    queries = np.array([[0.0, 0.1], [60.0, 2.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    pitch = np.array([60, 60, 62, 61, 60])
    a = np.array(["x", "x", "x", "x", "z"])
    b = np.array(["y", "y", "y", "y", "y"])
    match = nearest_instrument(refs, queries, pitch, a, np.array(["50"] * 5))
    # pair 0 heard x (A's), pair 1 heard y (B's); pair 2 has one instrument at 62; pair 3 no
    # note at 61; pair 4: A's instrument z has no note at (60, 50)
    assert list(match.heard) == ["x", "y", "x", None, "x"]
    assert list(match.choices) == [2, 2, 1, 0, 2]
    assert list(match.a_present) == [True, True, True, False, False]
    summary = match.summary(a, b)
    assert summary == {"instrument_pairs": 2, "instrument_kept": 0.5,
                       "instrument_took_b": 0.5, "instrument_chance": 0.5}  # fmt: skip
    assert match.summary(a, None)["instrument_took_b"] is None
    empty = nearest_instrument(refs, queries[3:4], pitch[3:4], a[3:4])
    assert empty.summary(a[3:4], b[3:4])["instrument_kept"] is None
    none = nearest_instrument(refs, np.zeros((0, 0)), pitch[:0], a[:0])  # no pair to score
    assert none.summary(a[:0], None) == {
        "instrument_pairs": 0,
        "instrument_kept": None,
        "instrument_took_b": None,
        "instrument_chance": None,
    }


def test_reference_rows_find_a_at_b_pitch():
    refs = references()
    rows = np.array([10, 11, 12, 13])  # the data rows the references were built from
    found = reference_rows(rows, refs, np.array(["x", "y", "z", "y"]), np.array([62, 60, 60, 62]),
                           np.array(["50", "50", "50", "50"]))  # fmt: skip
    # x at 62 -> row 13; y at 60 -> 11; z has no note at (60, 50) while others do (so the pair
    # is not scored either); y has none at 62
    assert list(found) == [13, 11, -1, -1]
    found = reference_rows(rows, refs, np.array(["z"]), np.array([60]), np.array(["127"]))
    assert list(found) == [12]  # no note at all at velocity 127: any velocity


@pytest.mark.parametrize("seed", [0, 1])
def test_a_perfect_swap_is_heard_as_a_and_noise_near_chance(seed):
    """Queries that ARE A's reference notes are all heard as A; queries of pure noise land on
    each instrument about equally (chance 1/8)."""
    rng = np.random.default_rng(seed)
    n_inst, n_pitch, f = 8, 12, 16
    inst = np.repeat(np.array([f"i{k}" for k in range(n_inst)]), n_pitch)
    pitch = np.tile(np.arange(60, 60 + n_pitch), n_inst)
    timbre = rng.normal(size=(n_inst, f))
    feats = np.repeat(timbre, n_pitch, axis=0) + 0.1 * rng.normal(size=(len(inst), f))
    refs = NoteReferences.build(feats, pitch, inst, None, feats)
    a = rng.integers(0, len(inst), 400)
    exact = nearest_instrument(refs, feats[a], pitch[a], inst[a])
    assert exact.summary(inst[a], None)["instrument_kept"] == 1.0
    noise = nearest_instrument(refs, rng.normal(size=(400, f)) * feats.std(0), pitch[a], inst[a])
    summary = noise.summary(inst[a], None)
    assert summary["instrument_chance"] == pytest.approx(1 / 8)
    assert abs(summary["instrument_kept"] - 1 / 8) < 0.08

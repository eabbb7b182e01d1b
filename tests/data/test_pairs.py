"""Pairs of notes: each pair shares exactly the labels its kind names, draws are a pure function of
(seed, step), partners are uniform, and impossible requests are one-line errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiovae.audio.synth import SynthConfig, note_table
from audiovae.data.pairs import (
    PairKind,
    build_plan,
    draw_partners,
    expand_kinds,
    factor_codes,
    kind_table,
    partner_counts,
)
from audiovae.errors import DataError

FACTORS = ["instrument", "pitch", "velocity"]


def _missing(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _brute_partners(labels, pool, kind, i):
    """Pool notes that equal note i on every shared label and differ on every other factor
    (missing values never match), by looking at every note."""
    row = {f: labels[f][i] for f in kind.share + kind.differ}
    if any(_missing(v) for v in row.values()):
        return []
    out = []
    for j in pool:
        other = {f: labels[f][j] for f in row}
        if any(_missing(v) for v in other.values()):
            continue
        if all(other[f] == row[f] for f in kind.share) and all(
            other[f] != row[f] for f in kind.differ
        ):
            out.append(int(j))
    return out


@st.composite
def label_tables(draw):
    """Random label columns (ints or strings, some missing) and a random set of pair kinds."""
    n_factors = draw(st.integers(2, 4))
    factors = [f"f{j}" for j in range(n_factors)]
    n = draw(st.integers(2, 40))
    labels = {}
    for f in factors:
        card = draw(st.integers(1, 4))
        as_text = draw(st.booleans())
        values = draw(st.lists(st.integers(-1, card - 1), min_size=n, max_size=n))
        if as_text:
            labels[f] = ["" if v < 0 else f"v{v}" for v in values]
        else:
            labels[f] = [None if v < 0 else v for v in values]
    labels["note"] = list(range(n))  # a label that is not a factor: never constrained
    proper = [list(c) for r in range(1, n_factors) for c in itertools.combinations(factors, r)]
    use_random = draw(st.booleans())
    if use_random:
        kinds = [("random", 1.0)]
    else:
        chosen = draw(st.lists(st.sampled_from(proper), min_size=1, max_size=3))
        kinds = [(share, draw(st.floats(0.1, 5.0))) for share in chosen]
    pool = np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=2))))
    return labels, factors, kinds, pool


@settings(max_examples=60, deadline=None)
@given(label_tables(), st.integers(0, 2**31), st.integers(0, 10_000))
def test_pairs_share_exactly_the_labels_of_their_kind(table, seed, step):
    labels, factors, kinds, pool = table
    expanded = expand_kinds(None, kinds, factors)
    codes = factor_codes(labels, factors, pool)
    for kind in expanded:
        # partner counts (inclusion-exclusion over the notes with every used label) against a
        # look at every note; a note missing a used label has none
        share = [factors.index(f) for f in kind.share]
        differ = [factors.index(f) for f in kind.differ]
        eligible = np.all(codes[:, share + differ] >= 0, axis=1)
        counts = np.zeros(pool.size, dtype=np.int64)
        counts[eligible] = partner_counts(codes[eligible], share, differ)
        brute = [len(_brute_partners(labels, pool, kind, i)) for i in pool]
        assert counts.tolist() == brute
    try:
        plan = build_plan(labels, pool, expanded, factors, unpaired="skip")
    except DataError as err:  # some kind that no note can form: that must be true
        assert "no training note has a partner that" in str(err)
        assert any(not any(_brute_partners(labels, pool, k, i) for i in pool) for k in expanded)
        return
    batch = plan.batch(seed, step, 16)
    assert np.array_equal(batch, plan.batch(seed, step, 16))  # a pure function of (seed, step)
    assert batch.size == 32 and np.isin(batch, pool).all()
    for a, b in zip(batch[0::2].tolist(), batch[1::2].tolist(), strict=True):
        fits = [k for k in expanded if b in _brute_partners(labels, pool, k, a)]
        assert fits, f"pair ({a}, {b}) shares no kind exactly"
    for table in plan.tables:  # skip leaves out exactly the notes without a partner
        has = [bool(_brute_partners(labels, pool, table.kind, i)) for i in pool]
        assert np.array_equal(np.isin(np.arange(pool.size), table.anchors), np.array(has))


def _synthetic_labels(**kw):
    records = note_table(SynthConfig(**kw))
    return {k: [r[k] for r in records] for k in records[0]}, [r["note_str"] for r in records]


def test_timbre_and_pitch_pairs_on_the_synthetic_notes():
    labels, ids = _synthetic_labels(
        pitches=(48, 50, 52), families=("guitar", "organ"), instruments_per_family=2,
        velocities=(50, 100), vibrato_depths=(0.0, 0.4),
    )  # fmt: skip
    pool = np.arange(len(ids))
    for share, differ in ((["instrument", "velocity"], "pitch"), (["pitch", "velocity"],
                                                                    "instrument")):  # fmt: skip
        plan = build_plan(labels, pool, expand_kinds(share, None, FACTORS), FACTORS, ids=ids)
        batch = plan.batch(0, 3, 64)
        for a, b in zip(batch[0::2], batch[1::2], strict=True):
            assert all(labels[f][a] == labels[f][b] for f in share)
            assert labels[differ][a] != labels[differ][b]


def test_random_pairs_change_k_factors_uniform_in_1_to_f_minus_1():
    """Locatello et al.'s k ~ U{1..F-1}, then which k factors uniformly: with F = 3 every proper
    non-empty subset has weight 1/2 * 1/3 = 1/6; with F = 4, a shared set of 3 (k = 1) has
    1/3 * 1/4, of 2 (k = 2) 1/3 * 1/6, of 1 (k = 3) 1/3 * 1/4."""
    three = expand_kinds("random", None, FACTORS)
    assert len(three) == 6 and all(k.weight == pytest.approx(1 / 6) for k in three)
    four = {k.share: k.weight for k in expand_kinds("random", None, ["a", "b", "c", "d"])}
    assert len(four) == 14 and sum(four.values()) == pytest.approx(1.0)
    assert four[("a", "b", "c")] == pytest.approx(1 / 12)
    assert four[("a", "b")] == pytest.approx(1 / 18)
    assert four[("d",)] == pytest.approx(1 / 12)
    mix = expand_kinds(None, [(["pitch"], 3.0), (["instrument"], 1.0)], FACTORS)
    assert [(k.share, k.differ, k.weight) for k in mix] == [
        (("pitch",), ("instrument", "velocity"), 0.75),
        (("instrument",), ("pitch", "velocity"), 0.25),
    ]


def test_kinds_are_drawn_by_weight_and_partners_uniformly():
    labels, ids = _synthetic_labels(
        pitches=(48, 50, 52, 53), families=("guitar", "organ", "reed"), instruments_per_family=2,
        velocities=(50, 100), vibrato_depths=(0.0,),
    )  # fmt: skip
    pool = np.arange(len(ids))
    kinds = expand_kinds(None, [(["pitch", "velocity"], 3.0), (["instrument", "velocity"], 1.0)],
                         FACTORS)  # fmt: skip
    plan = build_plan(labels, pool, kinds, FACTORS)
    batch = plan.batch(1, 0, 4000)
    a, b = batch[0::2], batch[1::2]
    same_pitch = np.array(labels["pitch"])[a] == np.array(labels["pitch"])[b]
    assert abs(same_pitch.mean() - 0.75) < 0.03  # 4000 pairs: sd 0.007
    # one anchor, many draws: its 5 partners sharing (pitch, velocity) come up alike
    rng = np.random.default_rng(0)
    partners = draw_partners(plan.tables[0], plan.codes, np.zeros(5000, dtype=np.int64), rng)
    expected = _brute_partners(labels, pool, kinds[0], 0)
    values, counts = np.unique(partners, return_counts=True)
    assert values.tolist() == expected and counts.min() > 850  # 1000 each, sd 28


def test_rejection_falls_back_to_an_exact_draw_for_rare_partners():
    """Anchors whose only partner hides among 301 notes that match them on the differing labels:
    16 rounds of rejection sampling miss it with probability (301/302)^16 = 0.95 per anchor, the
    exact enumeration then finds it."""
    n = 302
    labels = {"a": [0] * n, "b": [0] * (n - 1) + [1], "c": [0] * (n - 1) + [1]}
    codes = factor_codes(labels, ["a", "b", "c"], np.arange(n))
    table = kind_table(codes, ["a", "b", "c"], PairKind(("a",), ("b", "c")))
    assert table.anchors.tolist() == list(range(n))  # note n-1 partners every other note
    partner = draw_partners(table, codes, np.array([0, 5, 0]), np.random.default_rng(0))
    assert partner.tolist() == [n - 1] * 3


def test_validation_pairs_start_once_from_every_pairable_note():
    labels, ids = _synthetic_labels(
        pitches=(48, 50), families=("guitar", "organ"), instruments_per_family=2,
        velocities=(50, 100), vibrato_depths=(0.0,),
    )  # fmt: skip
    pool = np.arange(len(ids))
    valid = np.array([0, 3, 5, 9, 12])
    plan = build_plan(labels, pool, expand_kinds("random", None, FACTORS), FACTORS,
                      anchors=valid, unpaired="skip", every_kind=False)  # fmt: skip
    pairs = plan.each_anchor_once(0)
    assert pairs[0::2].tolist() == valid.tolist()
    assert np.array_equal(pairs, plan.each_anchor_once(0))
    kinds = expand_kinds("random", None, FACTORS)
    for a, b in zip(pairs[0::2], pairs[1::2], strict=True):
        assert any(b in _brute_partners(labels, pool, k, a) for k in kinds)


def test_a_label_the_data_lacks_and_a_note_without_partner_are_one_line_errors():
    labels, ids = _synthetic_labels(
        pitches=(48, 50), families=("guitar",), instruments_per_family=2, velocities=(50, 100),
        vibrato_depths=(0.0,),
    )  # fmt: skip
    pool = np.arange(len(ids))
    with pytest.raises(DataError, match=r"^data.pairs: the data has no label 'timbre' \(its "):
        build_plan(labels, pool, expand_kinds(["timbre"], None, ["timbre", "pitch"]),
                   ["timbre", "pitch"])  # fmt: skip
    # drop one note: its (instrument, pitch) neighbour at the other velocity has no partner
    kinds = expand_kinds(["instrument", "pitch"], None, FACTORS)
    with pytest.raises(DataError) as info:
        build_plan(labels, pool[1:], kinds, FACTORS, ids=ids)
    message = str(info.value)
    assert message.startswith("data.pairs: 1 of 7 training notes have no partner that shares "
                              "(instrument, pitch) and differs in (velocity)")  # fmt: skip
    assert ids[pool[1:][0]] in message and "unpaired: skip" in message and "\n" not in message
    plan = build_plan(labels, pool[1:], kinds, FACTORS, ids=ids, unpaired="skip")
    assert plan.summary()["unpaired_skipped"] == {"instrument+pitch": 1}
    assert 1 not in plan.batch(0, 0, 32)  # the partnerless note never starts or ends a pair
    with pytest.raises(DataError, match="no training note has a partner that shares"):
        build_plan(labels, pool, expand_kinds(["instrument"], None, ["instrument", "sample_rate"]),
                   ["instrument", "sample_rate"], unpaired="skip")  # fmt: skip


def test_a_plan_over_nsynth_sized_labels_draws_valid_pairs():
    """289,205 notes (NSynth train's size) with an incomplete grid: the plan builds with
    vectorised look-ups and draws valid pairs."""
    rng = np.random.default_rng(0)
    n = 289_205
    labels = {
        "instrument": rng.integers(0, 1006, n).tolist(),
        "pitch": rng.integers(9, 120, n).tolist(),
        "velocity": rng.choice([25, 50, 75, 100, 127], n).tolist(),
    }
    plan = build_plan(labels, np.arange(n), expand_kinds("random", None, FACTORS), FACTORS,
                      unpaired="skip")  # fmt: skip
    batch = plan.batch(0, 7, 256)
    cols = {f: np.array(labels[f]) for f in FACTORS}
    a, b = batch[0::2], batch[1::2]
    equal = np.stack([cols[f][a] == cols[f][b] for f in FACTORS], axis=1)
    assert equal.any(axis=1).all() and not equal.all(axis=1).any()


def test_pairs_from_an_nsynth_folder_and_a_labelled_audio_folder(tmp_path):
    """The labels each loader reads (NSynth's examples.json, a labels CSV with an empty cell)
    pair the same way as the synthetic notes' labels."""
    import soundfile as sf

    from audiovae.audio.synth import write_nsynth_folder
    from audiovae.data.folder import audio_folder_clipset
    from audiovae.data.nsynth import nsynth_clipset

    config = SynthConfig(pitches=(48, 50), families=("guitar", "organ"), instruments_per_family=1,
                         velocities=(100,), vibrato_depths=(0.0,), seconds=0.1)  # fmt: skip
    folder = write_nsynth_folder(tmp_path / "nsynth", config, progress=False)
    clips = nsynth_clipset(folder, sample_rate=16000, clip_samples=1600)
    kinds = expand_kinds(["pitch", "velocity"], None, FACTORS)
    plan = build_plan(clips.labels, np.arange(len(clips)), kinds, FACTORS, ids=clips.ids)
    for a, b in zip(*plan.batch(0, 0, 8).reshape(-1, 2).T, strict=True):
        assert clips.labels["pitch"][a] == clips.labels["pitch"][b]
        assert clips.labels["instrument"][a] != clips.labels["instrument"][b]

    audio = tmp_path / "audio"
    audio.mkdir()
    rows = [("a.wav", "ann", "60"), ("b.wav", "bob", "60"), ("c.wav", "ann", "62"),
            ("d.wav", "bob", "62"), ("e.wav", "", "62")]  # fmt: skip
    for name, _, _ in rows:
        sf.write(str(audio / name), np.zeros(1600, np.float32), 16000)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,speaker,pitch\n" + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in rows))
    clips = audio_folder_clipset(audio, sample_rate=16000, clip_samples=1600, labels_csv=csv)
    factors = ["speaker", "pitch"]
    plan = build_plan(clips.labels, np.arange(len(clips)), expand_kinds(["speaker"], None, factors),
                      factors, ids=clips.ids, unpaired="skip")  # fmt: skip
    by_id = dict(zip(clips.ids, range(len(clips)), strict=True))
    pairs = {(clips.ids[a], clips.ids[b]) for a, b in plan.batch(0, 0, 64).reshape(-1, 2)}
    assert pairs == {("a.wav", "c.wav"), ("c.wav", "a.wav"), ("b.wav", "d.wav"),
                     ("d.wav", "b.wav")}  # fmt: skip
    assert by_id["e.wav"] not in plan.tables[0].anchors  # no speaker: pairs with no one

"""The listening swap test: pairs, scoring with fake swaps of known outcome, and evaluate's JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from audiovae.audio.synth import SynthConfig, note_table, render_note
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.metrics.family import FamilyClassifier, pooled_logmel
from audiovae.metrics.instrument_match import NoteReferences, nearest_instrument
from audiovae.metrics.listening import (
    draw_pairs,
    listening_lines,
    per_pair,
    resynth_b,
    score_swaps,
)
from audiovae.phase.stage import MelToAudio

CFG = SynthConfig(pitches=(48, 52, 55, 59, 62), families=("guitar", "reed", "organ", "mallet"),
                  instruments_per_family=2, velocities=(100,), vibrato_depths=(0.0,),
                  seconds=0.5, seed=1)  # fmt: skip


class FakeVAE:
    """Just what a swap and the scorer use: the front end and the Griffin-Lim stage, no model."""

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        self.sample_rate = 16000
        self.frontend = LogMelFrontEnd(sample_rate=16000, n_mels=64)
        self.stage = MelToAudio(self.frontend, n_iter=16)

    def logmel(self, x: torch.Tensor) -> torch.Tensor:
        return self.frontend(x)

    def to_audio(self, logmel, length=None, n_iter=None, seed=0) -> torch.Tensor:
        return self.stage(logmel, length=length, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def notes():
    records = note_table(CFG)
    waves = torch.stack([torch.from_numpy(render_note(r, CFG)) for r in records]).float()
    labels = {k: np.array([r[k] for r in records]) for k in ("pitch", "instrument_str",
                                                             "instrument_family_str")}  # fmt: skip
    return waves, labels


def test_pairs_differ_in_instrument_and_pitch_and_are_seeded():
    rng = np.random.default_rng(0)
    instrument, pitch = rng.integers(0, 4, 50), rng.integers(0, 5, 50)
    rows = np.arange(10, 50)
    a, b = draw_pairs(rows, instrument, pitch, 30, seed=7)
    assert len(a) == len(b) == 30 and set(a) | set(b) <= set(rows) and len(set(a)) == 30
    assert (instrument[a] != instrument[b]).all() and (pitch[a] != pitch[b]).all()
    a2, b2 = draw_pairs(rows, instrument, pitch, 30, seed=7)
    assert (a == a2).all() and (b == b2).all()
    assert not (draw_pairs(rows, instrument, pitch, 30, seed=8)[1] == b).all()
    assert len(draw_pairs(rows, np.zeros(50), pitch, 5, seed=0)[0]) == 0  # one instrument
    assert len(draw_pairs(rows, instrument, pitch, 100, seed=0)[0]) <= len(rows)  # no repeats


def test_fake_swaps_score_as_expected(notes):
    waves, labels = notes
    vae = FakeVAE()
    inst, pitch = labels["instrument_str"], labels["pitch"].astype(float)
    family = labels["instrument_family_str"]
    held = np.array([name.endswith("_001") for name in inst])
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    clf = FamilyClassifier().fit(vae.frontend(waves[train]), family[train])
    a, b = draw_pairs(test, inst, pitch, 12, seed=0)

    def score(swap):
        return score_swaps(vae, swap, lambda r: waves[r], a, b, pitch, family, clf,
                           midi_range=(36, 74), progress=False)  # fmt: skip

    ceiling = score(resynth_b()).summary(ceiling=True)
    assert ceiling["within_50_cents"] >= 11 / 12 and ceiling["median_abs_cents"] < 20
    plays_a = score(per_pair(lambda vae, x, y: x)).summary()  # A's audio: B's pitch never
    assert plays_a["within_50_cents"] == 0 and plays_a["median_abs_cents"] >= 250
    assert plays_a["family_kept"] > plays_a["family_took_b"]
    plays_b = score(lambda vae, x, y: y).summary()
    assert plays_b["family_took_b"] > plays_b["family_kept"]
    assert plays_b["family_pairs"] == 12  # held-out instruments: one per family


def test_instrument_heard_for_swaps_of_known_outcome(notes):
    """An oracle swap (A's own real note at B's pitch) is heard as A's instrument every time,
    B's audio as B's, and A's audio at its own pitch (no note of A at B's pitch) is never
    scored as a hit: the candidates are the held-out notes at B's pitch."""
    waves, labels = notes
    vae = FakeVAE()
    inst, pitch = labels["instrument_str"], labels["pitch"].astype(float)
    held = np.array([name.endswith("_001") for name in inst])
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    feats = pooled_logmel(vae.frontend(waves))
    refs = NoteReferences.build(feats[test], pitch[test], inst[test], None, feats[train])
    a, b = draw_pairs(test, inst, pitch, 12, seed=0)
    row_of = {(inst[r], pitch[r]): r for r in test}
    oracle = np.array([row_of[inst[i], pitch[j]] for i, j in zip(a, b, strict=True)])

    def heard(rows):
        out = score_swaps(vae, lambda vae, x, y: y, lambda r: waves[r], a, rows, pitch, None,
                          None, midi_range=(36, 74), progress=False)  # fmt: skip
        return nearest_instrument(refs, out.features, pitch[b], inst[a]).summary(inst[a], inst[b])

    assert heard(oracle)["instrument_kept"] == 1.0
    plays_b = heard(b)
    assert plays_b["instrument_took_b"] == 1.0 and plays_b["instrument_kept"] == 0.0
    assert plays_b["instrument_pairs"] == 12 and plays_b["instrument_chance"] == 1 / 4


def test_listening_lines_say_skipped_and_show_rows():
    assert "skipped" in listening_lines({"skipped": "no pitch label"})[0]
    row = {"within_50_cents": 0.5, "median_abs_cents": None, "unvoiced": 3, "family_kept": 0.75,
           "family_took_b": None}  # fmt: skip
    lines = listening_lines({"pairs": 4, "swap": row, "ceiling": row, "leakage": {}})
    assert "50%" in lines[1] and "unvoiced" in lines[1] and "75%" in lines[1]


def test_evaluate_json_has_the_listening_section(trained_run, cache_dir, tmp_path):
    from audiovae.audio.synth import write_nsynth_folder
    from audiovae.cli import main

    run, _ = trained_run
    cfg = SynthConfig(pitches=(48, 51, 54, 57), families=("guitar", "reed", "mallet", "organ"),
                      instruments_per_family=2, velocities=(100,), vibrato_depths=(0.0,),
                      seconds=0.496, seed=3)  # fmt: skip
    data = write_nsynth_folder(tmp_path / "notes", cfg, progress=False)
    out = tmp_path / "eval.json"
    args = ["evaluate", str(run), str(data), "-o", str(out), "--iwae-clips", "0",
            "--audio-clips", "0", "--listen-pairs", "6", "--cache-dir", str(cache_dir)]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    section = json.loads(out.read_text())["listening"]
    families = ("guitar", "mallet", "organ", "reed")
    assert section["pairs"] == 6 and len(section["per_pair"]) == 6
    assert sorted(section["split"]["held_out"]) == [f"{f}_synthetic_001" for f in families]
    for row in (section["swap"], section["ceiling"]):
        assert 0 <= row["within_50_cents"] <= 1 and row["notes"] == 6
    assert section["ceiling"]["within_50_cents"] >= 5 / 6  # resynthesis keeps the pitch
    # every held-out instrument plays every pitch: all 6 pairs are scored among 4 instruments
    swap, ceiling = section["swap"], section["ceiling"]
    assert swap["instrument_pairs"] == ceiling["instrument_pairs"] == 6
    assert swap["instrument_chance"] == ceiling["instrument_chance"] == 1 / 4
    assert 0 <= swap["instrument_kept"] + swap["instrument_took_b"] <= 1
    assert ceiling["instrument_kept"] >= 5 / 6  # A's own note through the stage is heard as A
    assert all(p["instrument_heard"] in {f"{f}_synthetic_001" for f in families}
               for p in section["per_pair"])  # fmt: skip
    assert 0 <= section["family_classifier"]["heldout_accuracy"] <= 1
    leak = section["leakage"]
    assert leak["pitch_from_timbre"]["dims"] + leak["family_from_pitch"]["dims"] == 16
    swaps = section["examples"]["swaps"]
    assert len(swaps) == 3
    assert (out.with_suffix(".swaps") / swaps[0]["files"]["swap"]).is_file()
    assert "listening (6 pairs)" in res.output and "ceiling" in res.output

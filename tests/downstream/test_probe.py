"""Probes on extracted latents: leak-free splits, baselines in the same run, report and figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from audiovae.audio.synth import SynthConfig, write_nsynth_folder
from audiovae.downstream.commands import probe_command
from audiovae.downstream.extract import extract_features
from audiovae.downstream.features_file import Features, save_features
from audiovae.downstream.probe import instrument_split, note_split, probe
from audiovae.errors import DataError

NOTES = SynthConfig(
    pitches=(48, 52, 55, 59),
    families=("guitar", "reed", "mallet", "organ"),
    instruments_per_family=2,
    velocities=(50, 100),
    vibrato_depths=(0.0,),
    seconds=0.496,  # the trained_run fixture's clip length
)


@pytest.fixture(scope="module")
def features_file(trained_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    notes = write_nsynth_folder(root / "notes", NOTES, progress=False)
    feats = extract_features(trained_run[0], notes, cache_dir=root / "cache", progress=False)
    return save_features(feats, root / "out" / "notes.npz"), root / "cache"


def test_nsynth_names_hold_out_the_last_instrument_of_each_family():
    groups = np.array(
        ["guitar_synthetic_000", "guitar_synthetic_001", "guitar_synthetic_002", "organ_x_7"]
        + ["organ_x_3", "bass_acoustic_000", "organ_x_7"]
    )
    train, test, info = instrument_split(groups)
    assert info["held_out"] == ["guitar_synthetic_002", "organ_x_7"]  # bass has one: kept
    assert set(groups[test]) == {"guitar_synthetic_002", "organ_x_7"}
    assert not set(groups[train]) & set(groups[test])
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(groups)))


def test_other_groups_use_a_seeded_group_split_without_leak():
    groups = np.repeat(np.arange(12), 5)
    for seed in range(4):
        train, test, info = instrument_split(groups, test_size=0.25, seed=seed)
        assert not set(groups[train]) & set(groups[test])
        assert len(set(groups[test])) == 3 and "GroupShuffleSplit" in info["method"]
    with pytest.raises(DataError, match="2 or more"):
        instrument_split(np.zeros(5))


def test_note_split_is_stratified():
    y = np.repeat(np.arange(4), 8)
    train, test, info = note_split(y, seed=1)
    assert set(y[train]) == set(y[test]) == {0, 1, 2, 3} and "stratified" in info["method"]
    assert np.bincount(y[test]).tolist() == [2, 2, 2, 2]


def test_probe_report_baselines_and_figures(features_file):
    path, cache = features_file
    report = probe(path, ["pitch", "instrument_family", "instrument_str"], cache_dir=cache,
                   progress=False)  # fmt: skip
    out = path.parent
    stored = json.loads((out / "probe.json").read_text())
    assert stored == json.loads(json.dumps(report))
    assert stored["classifier"] == "logistic" and stored["latent_dim"] == 16
    assert stored["rows"] == 64 and stored["baseline_data"].endswith("notes")
    for target, classes in (("pitch", 4), ("instrument_family", 4), ("instrument_str", 8)):
        r = stored["targets"][target]
        assert r["classes"] == classes
        for key in ("mu", "pca_logmel", "chance"):
            assert set(r[key]) == {"accuracy", "macro_f1"}
            assert 0.0 <= r[key]["accuracy"] <= 1.0 and 0.0 <= r[key]["macro_f1"] <= 1.0
        assert r["train_rows"] + r["test_rows"] == 64
        assert (out / f"confusion_{target}.png").stat().st_size > 0
        assert (out / f"map_{target}.png").stat().st_size > 0
    pitch = stored["targets"]["pitch"]
    assert pitch["split"]["kind"] == "held-out instruments"
    held = pitch["split"]["held_out"]
    assert held == [f"{f}_synthetic_001" for f in ("guitar", "mallet", "organ", "reed")]
    assert pitch["test_rows"] == 32  # 4 held-out instruments x 8 notes: no instrument in both
    assert stored["targets"]["instrument_str"]["split"]["kind"] == "notes"
    assert pitch["chance"]["accuracy"] == pytest.approx(0.25)
    assert pitch["mu"]["accuracy"] > pitch["chance"]["accuracy"]


def test_mlp_without_baseline_or_plots(features_file, tmp_path):
    path, _ = features_file
    report = probe(path, ["pitch"], classifier="mlp", out_dir=tmp_path, baseline=False,
                   plots=False, progress=False)  # fmt: skip
    assert report["targets"]["pitch"]["pca_logmel"] is None
    assert report["targets"]["pitch"]["split"]["kind"] == "held-out instruments"
    noted = probe(path, ["pitch"], out_dir=tmp_path, split="notes", baseline=False, plots=False)
    assert noted["targets"]["pitch"]["split"]["kind"] == "notes"
    assert report["files"] == ["probe.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.json"]


def test_bad_targets_and_windowed_features_are_refused(features_file, tmp_path):
    path, _ = features_file
    with pytest.raises(DataError, match="not a label.*pitch"):
        probe(path, ["colour"], out_dir=tmp_path, baseline=False)
    with pytest.raises(DataError, match="multi-label"):
        probe(path, ["qualities"], out_dir=tmp_path, baseline=False)
    windows = Features(
        name=np.array(["a", "a"]),
        mu=np.zeros((2, 3), np.float32),
        logvar=np.zeros((2, 3), np.float32),
        labels={"pitch": np.array([1, 2])},
        start_seconds=np.array([0.0, 0.5], np.float32),
    )
    with pytest.raises(DataError, match="one row per clip"):
        probe(windows, ["pitch"], out_dir=tmp_path, baseline=False)


def test_cli_prints_the_table(features_file, tmp_path):
    path, cache = features_file
    args = [str(path), "--target", "pitch", "-o", str(tmp_path), "--cache-dir", str(cache),
            "--no-plots"]  # fmt: skip
    result = CliRunner().invoke(probe_command, args)
    assert result.exit_code == 0, result.output
    assert "pitch" in result.stdout and "PCA acc" in result.stdout and "chance acc" in result.stdout
    bad = CliRunner().invoke(probe_command, [str(path), "--target", "colour", "-o", str(tmp_path)])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: target 'colour'")

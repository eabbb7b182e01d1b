"""`audiovae evaluate` on the session's small model: every section present, finite, and sane."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from audiovae.audio.synth import SynthConfig, write_nsynth_folder
from audiovae.cli import main
from audiovae.metrics.evaluate import factor_labels


def test_factor_labels_keep_discrete_scalars_only():
    labels = {
        "note": list(range(6)),  # one value per clip: an id, not a factor
        "pitch": [60, 62, 60, 62, 60, 62],
        "pitch_str": ["a", "b", "a", "b", "a", "b"],  # dropped: `pitch` exists
        "family_str": ["f", "g", "f", "g", "g", "g"],  # kept: no plain `family`
        "instrument": [0, 0, 1, 1, 2, 2],
        "instrument_str": ["x", "x", "y", "y", "z", "z"],  # dropped: `instrument` exists
        "qualities": [[0, 1]] * 6,  # lists are not factors
        "constant": [1] * 6,
    }
    out = factor_labels(labels, 6)
    assert sorted(out) == ["family_str", "instrument", "pitch"]
    assert out["pitch"].tolist() == [0, 1, 0, 1, 0, 1]


def test_evaluate_cli_writes_every_section(trained_run, cache_dir, tmp_path):
    run, _ = trained_run
    cfg = SynthConfig(pitches=(48, 50, 52, 54), families=("guitar", "reed", "mallet", "organ"),
                      instruments_per_family=2, velocities=(50, 100), vibrato_depths=(0.0,),
                      seconds=0.496, seed=3)  # fmt: skip
    notes = write_nsynth_folder(tmp_path / "notes", cfg, progress=False)
    out = tmp_path / "eval.json"
    res = CliRunner().invoke(main, ["evaluate", str(run), str(notes), "-o", str(out),
                                    "--iwae-clips", "8", "--iwae-k", "4", "--audio-clips", "4",
                                    "--cache-dir", str(cache_dir)])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert report["clips"] == 64 and len(report["kl_per_dim"]) == 16
    assert 0 < report["reconstruction"]["logmel_mse"] < 10
    assert 0 < report["spectral_convergence"]["mean"] < 1.5
    assert math.isfinite(report["log_px"]["mean"]) and report["log_px"]["k"] == 4
    dis = report["disentanglement"]
    assert {"pitch", "instrument", "instrument_family", "velocity"} <= set(dis["factors"])
    for key in ("mig", "sap", "factor_vae_score", "beta_vae_score"):
        assert 0 <= dis[key] <= 1, key
    assert 0 <= dis["dci"]["informativeness"] <= 1
    assert 1 <= report["active_units"] <= 16 and "Cov_x" in report["active_units_estimator"]
    assert "wrote" in res.output and "mig" in res.output
    assert dis["mig_details"]["estimator"]["n_bins"] == 20
    assert dis["dci_details"]["estimator"]["classifier"] == "random_forest"
    # the reference estimators: MIG with as many bins as values, DCI by gradient boosting
    res = CliRunner().invoke(main, ["evaluate", str(run), str(notes), "-o", str(out),
                                    "--iwae-clips", "0", "--audio-clips", "0", "--mig-bins",
                                    "values", "--dci-estimator", "gradient_boosting",
                                    "--cache-dir", str(cache_dir)])  # fmt: skip
    assert res.exit_code == 0, res.output
    dis = json.loads(out.read_text())["disentanglement"]
    bins = dict(zip(dis["factors"], dis["mig_details"]["bins_per_factor"], strict=True))
    assert bins["pitch"] == 4 and bins["velocity"] == 2 and bins["instrument_family"] == 4
    assert dis["dci_details"]["estimator"]["classifier"] == "gradient_boosting"
    assert 0 <= dis["dci"]["disentanglement"] <= 1
    res = CliRunner().invoke(main, ["evaluate", str(run), str(notes), "--mig-bins", "1"])
    assert res.exit_code == 2 and "integer >= 2" in res.output


def test_factor_labels_drop_derived_timbre_and_take_an_explicit_list():
    import pytest

    from audiovae.errors import DataError

    labels = {
        "instrument": [0, 0, 1, 1],
        "timbre_tilt_db": [1.5, 1.5, -2.0, -2.0],  # a function of instrument
        "pitch": [60, 62, 60, 62],
    }
    assert sorted(factor_labels(labels, 4)) == ["instrument", "pitch"]
    assert sorted(factor_labels(labels, 4, ["timbre_tilt_db"])) == ["timbre_tilt_db"]
    with pytest.raises(DataError, match="not discrete labels"):
        factor_labels(labels, 4, ["velocity"])


def test_a_failing_metric_is_recorded_and_the_others_still_score():
    """MIG and SAP need two code dimensions; on a one-dimensional code they fail, and the
    FactorVAE, beta-VAE and DCI scores are still computed."""
    import numpy as np

    from audiovae.metrics.evaluate import _disentanglement

    rng = np.random.default_rng(0)
    factors = {"pitch": rng.integers(0, 3, 300), "velocity": rng.integers(0, 2, 300)}
    mu = (factors["pitch"] + 0.1 * rng.normal(size=300))[:, None]
    out = _disentanglement(mu, factors, seed=0)
    assert set(out["errors"]) == {"mig", "sap"}
    assert "2 code dimensions" in out["errors"]["mig"]
    assert "mig" not in out and "sap" not in out
    for key in ("factor_vae_score", "beta_vae_score"):
        assert 0 <= out[key] <= 1, key
    assert 0 <= out["dci"]["informativeness"] <= 1


def test_metric_options_are_checked_before_any_work(tmp_path):
    import pytest

    from audiovae.errors import AudioVAEError
    from audiovae.metrics.evaluate import evaluate

    with pytest.raises(AudioVAEError, match="dci_estimator: expected one of"):
        evaluate(tmp_path, tmp_path, dci_estimator="forest")
    with pytest.raises(AudioVAEError, match="mig_bins"):
        evaluate(tmp_path, tmp_path, mig_bins="auto")

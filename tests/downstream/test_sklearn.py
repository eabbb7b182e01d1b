"""AudioVAEFeatures: scikit-learn's estimator checks, and a Pipeline with a classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

from audiovae.audio.io import load_audio
from audiovae.audio.synth import SynthConfig, write_nsynth_folder
from audiovae.sklearn import AudioVAEFeatures

NOTES = SynthConfig(
    pitches=(48, 52, 55, 59),
    families=("guitar", "organ"),
    instruments_per_family=2,
    velocities=(50, 100),
    vibrato_depths=(0.0,),
    seconds=0.496,  # the trained_run fixture's clip length
)


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    folder = write_nsynth_folder(tmp_path_factory.mktemp("notes"), NOTES, progress=False)
    examples = json.loads((folder / "examples.json").read_text())
    keys = sorted(examples)
    paths = [str(folder / "audio" / f"{k}.wav") for k in keys]
    return paths, np.array([examples[k]["instrument_family_str"] for k in keys])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array-API check
def test_passes_scikit_learns_estimator_checks(trained_run):
    results = check_estimator(AudioVAEFeatures(trained_run[0]), on_fail=None)
    failed = {r["check_name"]: str(r["exception"]) for r in results if r["status"] == "failed"}
    assert not failed


def test_pipeline_with_a_classifier_on_paths(trained_run, notes):
    paths, family = notes
    pipe = make_pipeline(AudioVAEFeatures(trained_run[0], batch_size=5), LogisticRegression())
    pipe.fit(paths, family)
    assert pipe.predict(paths).shape == (len(paths),)
    assert pipe.score(paths, family) > 0.8
    params = pipe.get_params()
    assert params["audiovaefeatures__run_dir"] == trained_run[0]
    assert params["audiovaefeatures__batch_size"] == 5
    twin = clone(pipe)
    assert not hasattr(twin[0], "model_") and twin[0].get_params() == pipe[0].get_params()
    twin.set_params(audiovaefeatures__checkpoint="last")
    assert twin[0].checkpoint == "last"


def test_paths_and_waveforms_give_the_same_float32_mu(trained_run, notes):
    paths, _ = notes
    features = AudioVAEFeatures(trained_run[0]).fit()
    from_paths = features.transform(paths[:4])
    waves = np.stack([load_audio(p, features.sample_rate_).numpy() for p in paths[:4]])
    from_waves = features.transform(waves)
    assert from_paths.dtype == np.float32 and from_paths.shape == (4, 16)
    np.testing.assert_allclose(from_paths, from_waves, atol=1e-5)
    assert list(features.get_feature_names_out()) == [f"mu_{i}" for i in range(16)]
    # embed may return a tensor or a numpy array: the transformer gives numpy either way
    features.model_.embed = lambda x, batch_size=64: np.ones((len(x), 16), dtype=np.float64)
    assert features.transform(paths[:2]).dtype == np.float32


def test_transform_needs_fit_and_run_dir(notes):
    with pytest.raises(NotFittedError):
        AudioVAEFeatures("nowhere").transform(notes[0])
    with pytest.raises(ValueError, match="run_dir"):
        AudioVAEFeatures().fit()

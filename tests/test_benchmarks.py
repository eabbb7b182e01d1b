"""The benchmark suite (benchmarks/suite.py) runs: every row at a minimal size returns sane fields.

Nothing here is timed or compared with a target; `make bench-quick` does that.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys

import numpy as np
import pytest
import torch
from support import REPO


def _load_suite():
    spec = importlib.util.spec_from_file_location("benchmark_suite", REPO / "benchmarks/suite.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


suite = _load_suite()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    threads = torch.get_num_threads()
    settings = suite.Settings(threads=1, librosa_blas_threads=1, device="cpu")
    yield suite.Workspace(tmp_path_factory.mktemp("bench"), suite.SMOKE, settings)
    torch.set_num_threads(threads)


# The model-driven command rows start `python -m audiovae` with a trained run: slow. The fast
# rows `startup` and `cmd_resynth` run the same process timing (`_command_row`, `process`).
MODEL_COMMAND_ROWS = ["cmd_reconstruct", "cmd_morph", "cmd_extract", "cmd_report"]


@pytest.mark.parametrize("row", [r for r in suite.ROWS if r not in MODEL_COMMAND_ROWS])
def test_row_runs_and_returns_its_lines(row, workspace):
    _check_row(row, workspace)


@pytest.mark.slow
@pytest.mark.parametrize("row", MODEL_COMMAND_ROWS)
def test_model_command_row_runs(row, workspace):
    _check_row(row, workspace)


def test_command_rows_use_this_tree_and_real_notes(workspace):
    import soundfile

    paths, source = suite.command_notes(workspace)
    assert len(paths) == suite.SMOKE.cmd_notes
    for path in paths:
        audio, rate = soundfile.read(path)
        assert rate == 16000 and len(audio) == 16000 * suite.SMOKE.cmd_note_seconds
        assert np.sqrt(np.mean(audio**2)) > 1e-3  # a note, not silence
    try:
        import fluidsynth  # noqa: F401

        soundfont = suite.SOUNDFONT.is_file()
    except ImportError:
        soundfont = False
    assert ("SoundFont" in source) == soundfont and ("synthetic" in source) != soundfont
    assert suite._process_env()["PYTHONPATH"].split(os.pathsep)[0] == str(REPO)


def test_timed_processes_cache_bytecode(monkeypatch):
    # a user's installed copy runs from cached bytecode; compiling every round is not the command
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = suite._process_env()
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO)


def test_failing_process_is_an_error_not_a_figure():
    with pytest.raises(RuntimeError, match="failed"):
        suite.process(["-c", "raise SystemExit(3)"], [])()


def _check_row(row, workspace):
    result = suite.ROWS[row](suite.SMOKE, workspace.settings, workspace)
    assert result["lines"] and isinstance(result["details"], dict) and result["settings"]
    for line in result["lines"]:
        for key in ("ours", "reference", "ratio"):
            assert math.isfinite(line[key]) and line[key] > 0, (line["label"], key)
        assert line["unit"] and line["target"] and line["reference_is"]
        assert line["met"] in (True, False, None)
    json.dumps(result, default=str)  # the report is JSON
    printed = suite.table({row: result}).splitlines()
    assert len(printed) == 2 + len(result["lines"]) and printed[0].startswith("row")


def test_report_files(tmp_path):
    partial = {"suite": "quick", "rows": {"logmel": {"lines": []}}}
    path = suite.write_report(partial, tmp_path)
    assert path.name.startswith("bench-quick-") and path.suffix == ".json"
    assert json.loads(path.read_text()) == partial
    assert not (tmp_path / "latest-quick.json").exists()  # only a complete run is the latest
    complete = {"suite": "quick", "rows": {name: {"lines": []} for name in suite.ROWS}}
    suite.write_report(complete, tmp_path)
    assert json.loads((tmp_path / "latest-quick.json").read_text()) == complete


def test_nsynth_shape_trains_nsynth_sized_model(tmp_path):
    """--shape nsynth: rows 3-5 time recipes/nsynth.yaml's model on 4 s / 128-mel clips."""
    settings = suite.Settings(threads=1, librosa_blas_threads=1, device="cpu", shape="nsynth")
    workspace = suite.Workspace(tmp_path, suite.SMOKE, settings)
    result = suite.ROWS["train_pipeline"](suite.SMOKE, settings, workspace)
    model = result["details"]["model"]
    assert (model["n_mels"], model["frames"], model["latent_dim"]) == (128, 251, 64)
    assert model["channels"] == [32, 64, 128, 256, 512]

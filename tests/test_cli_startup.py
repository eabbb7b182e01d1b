"""`audiovae --help` stays light: no torch, scikit-learn, matplotlib or onnx until a command
runs (start-up was 3.7-4.7 s when they loaded for `--help`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
from support import REPO

from audiovae.cli import main

HEAVY = ("torch", "sklearn", "matplotlib", "onnx", "onnxruntime", "scipy", "librosa", "numpy")


def _python(code: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


def test_every_command_is_registered_and_listed():
    paths = _command_paths(main)
    names = {p[0] for p in paths}
    assert {"train", "sweep", "data", "reconstruct", "resynth", "morph", "traverse", "sample",
            "swap", "extract", "probe", "evaluate", "report", "export"} <= names  # fmt: skip


def test_import_and_every_help_load_no_heavy_module():
    # In a fresh interpreter: import the CLI, print --help of the group and of every (sub)command,
    # then list which heavy modules got imported.
    code = f"""
import json, sys
from click.testing import CliRunner
import audiovae.cli
after_import = sorted(m for m in {HEAVY!r} if m in sys.modules)
paths = {json.dumps(_command_paths(main))}
helps = {{}}
for path in [[]] + paths:
    result = CliRunner().invoke(audiovae.cli.main, [*path, "--help"])
    helps[" ".join(path)] = [result.exit_code, result.output]
after_help = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"import": after_import, "help": after_help, "helps": helps}}))
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["import"] == [], f"`import audiovae.cli` loads {report['import']}"
    assert report["help"] == [], f"`--help` loads {report['help']}"
    for path, (code_, output) in report["helps"].items():
        assert code_ == 0, f"audiovae {path} --help: {output}"
        assert "Usage: " in output and "--help" in output, path
    assert "reconstruct" in report["helps"][""][1] and "report" in report["helps"][""][1]


def test_module_entry_point_help_runs():
    done = subprocess.run(
        [sys.executable, "-m", "audiovae", "morph", "--help"], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Interpolate the latents of A and B" in done.stdout


def test_export_format_names_match_the_registry():
    from audiovae.deploy.commands import FORMAT_NAMES
    from audiovae.deploy.formats import FORMATS

    assert tuple(FORMAT_NAMES) == tuple(FORMATS)


def test_lazy_package_attributes_resolve():
    import audiovae
    import audiovae.downstream
    import audiovae.metrics
    from audiovae.downstream.extract import extract_features
    from audiovae.metrics.disentanglement import mutual_info_gap

    assert audiovae.metrics.mutual_info_gap is mutual_info_gap
    assert audiovae.downstream.extract_features is extract_features
    assert audiovae.__version__


NOT_FOR_GENERATION = ("matplotlib", "sklearn", "scipy", "librosa", "pandas", "tensorboard",
                      "audiovae.train.trainer", "audiovae.train.recipe")  # fmt: skip
# (pydantic is not on the list: a typed run manifest read by AudioVAE.load may use it)


def test_command_bodies_load_only_what_they_use():
    # What `resynth`, `reconstruct`, `morph`, `traverse`, `sample`, `swap` and `report` import
    # before they run: nothing of the above (each cost 0.1-1.5 s of a command's start-up).
    code = f"""
import json, sys
import audiovae.generate.commands, audiovae.generate.operations, audiovae.generate.render
import audiovae.generate.swapping, audiovae.plots, audiovae.phase.stage, audiovae.api
generation = sorted(m for m in {NOT_FOR_GENERATION!r} if m in sys.modules)
import audiovae.report.commands, audiovae.report.content, audiovae.report.page
report = sorted(m for m in {NOT_FOR_GENERATION[:6]!r} if m in sys.modules)
print(json.dumps({{"generation": generation, "report": report}}))
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert loaded == {"generation": [], "report": []}, loaded


def test_objectives_package_names_resolve_lazily():
    import audiovae.objectives as objectives
    from audiovae.objectives.base import Objective, ObjectiveOutput

    assert objectives.Objective is Objective and objectives.ObjectiveOutput is ObjectiveOutput
    assert issubclass(objectives.get_objective("beta_vae"), Objective)

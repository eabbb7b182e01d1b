"""The data path flows one way: the inference side never imports the training package, and
its device errors speak of its own arguments."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
import torch
from support import REPO

INFERENCE = [
    "audiovae.api",
    "audiovae.generate",
    "audiovae.generate.commands",
    "audiovae.generate.operations",
    "audiovae.generate.swapping",
    "audiovae.downstream.extract",
    "audiovae.downstream.probe",
    "audiovae.downstream.commands",
    "audiovae.sklearn",
    "audiovae.deploy",
    "audiovae.deploy.commands",
    "audiovae.metrics",
    "audiovae.metrics.evaluate",
    "audiovae.metrics.commands",
    "audiovae.report",
    "audiovae.report.content",
    "audiovae.report.sounds",
    "audiovae.report.page",
    "audiovae.report.commands",
]


def test_inference_side_imports_nothing_from_train():
    code = (
        "import importlib, sys\n"
        f"for name in {INFERENCE!r}:\n"
        "    importlib.import_module(name)\n"
        "train = sorted(m for m in sys.modules if m.startswith('audiovae.train'))\n"
        "print(','.join(train))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"


# modules allowed to import audiovae.train: the package itself and the CLI's `train` / `sweep`
TRAINING_SIDE = ("audiovae/train/", "audiovae/cli.py")


def train_imports(source: str) -> list[str]:
    """Every module under audiovae.train that `source` imports, at any depth (in-function too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("audiovae.train")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
            if node.module.startswith("audiovae.train"):
                found.append(node.module)
            elif node.module == "audiovae":
                found += [n for n in names if n == "audiovae.train"]
    return found


def test_the_scan_sees_in_function_imports():
    code = (
        "def f():\n    from audiovae.train.trainer import Trainer\n"
        "import audiovae.train.runtime\nfrom audiovae import train\nfrom audiovae.recipe import x\n"
    )
    assert sorted(train_imports(code)) == [
        "audiovae.train", "audiovae.train.runtime", "audiovae.train.trainer"
    ]  # fmt: skip


def test_no_module_outside_training_imports_train_even_inside_functions():
    offenders = {}
    for path in sorted((REPO / "audiovae").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(TRAINING_SIDE):
            continue
        found = train_imports(path.read_text())
        if found:
            offenders[rel] = found
    assert offenders == {}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_on_a_missing_device_names_the_api_argument(trained_run):
    from audiovae.api import AudioVAE
    from audiovae.devices import DeviceError

    with pytest.raises(DeviceError) as err:
        AudioVAE.load(trained_run[0], device="cuda")
    message = str(err.value)
    assert message.startswith("device is 'cuda'") and "train.device" not in message

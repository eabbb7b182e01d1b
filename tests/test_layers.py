"""The data path flows one way: the inference side never imports the training package, and
its device errors speak of its own arguments."""

from __future__ import annotations

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


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_on_a_missing_device_names_the_api_argument(trained_run):
    from audiovae.api import AudioVAE
    from audiovae.devices import DeviceError

    with pytest.raises(DeviceError) as err:
        AudioVAE.load(trained_run[0], device="cuda")
    message = str(err.value)
    assert message.startswith("device is 'cuda'") and "train.device" not in message

"""File formats for exported graphs: how each is written, and how it is run back for checking.

A format writes one nn.Module, traced at example inputs whose first axis is the batch, to one
file that its runtime loads without audiovae: TorchScript needs only torch, ONNX only
onnxruntime (and numpy).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from audiovae.errors import AudioVAEError

ONNX_OPSET = 18


class GraphFormat(Protocol):
    """What the exporter needs of a format."""

    name: str
    suffix: str
    runtime: dict[str, object]  # how to load the files, for the manifest

    def check_available(self) -> None:
        """Raise AudioVAEError naming the first missing package this format needs."""

    def write(
        self,
        module: nn.Module,
        example: Sequence[torch.Tensor],
        names: tuple[Sequence[str], Sequence[str]],
        path: Path,
    ) -> None:
        """Write `module` (input and output `names`, first axis free) to `path`."""

    def run(self, path: Path, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Load `path` with the format's own runtime and return its output on `inputs`."""


class _ShapeGuard(nn.Module):
    """Checks every input's trailing shape before calling a traced graph (a trace keeps no
    Python checks, and a wrong clip length would otherwise fail deep inside a convolution)."""

    def __init__(self, graph: nn.Module, names: list[str], tails: list[list[int]]) -> None:
        super().__init__()
        self.graph = graph
        self.names = names
        self.tails = tails

    def check(self, i: int, x: torch.Tensor) -> None:
        tail = self.tails[i]
        if x.dim() != len(tail) + 1 or x.shape[1:] != tail:
            raise ValueError(
                f"input '{self.names[i]}': expected shape [batch] + {tail}, got {x.shape}"
            )


class _GuardOne(_ShapeGuard):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check(0, x)
        return self.graph(x)


class _GuardTwo(_ShapeGuard):
    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        self.check(0, x)
        self.check(1, condition)
        return self.graph(x, condition)


class TorchScriptFormat:
    """torch.jit.trace of the graph inside a scripted shape check; load with torch.jit.load.

    torch.jit is deprecated in recent torch (a FutureWarning in 2.14) but still saves, loads and
    runs; ONNX is the format to build on.
    """

    name = "torchscript"
    suffix = ".pt"
    runtime = {"load": "torch.jit.load(path)", "needs": ["torch"]}

    def check_available(self) -> None:
        return None

    def write(
        self,
        module: nn.Module,
        example: Sequence[torch.Tensor],
        names: tuple[Sequence[str], Sequence[str]],
        path: Path,
    ) -> None:
        tails = [list(x.shape[1:]) for x in example]
        guard = _GuardOne if len(example) == 1 else _GuardTwo
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated"
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the model's own checks
            traced = torch.jit.trace(module.eval(), tuple(example))
            scripted = torch.jit.script(guard(traced, list(names[0]), tails))
            torch.jit.save(scripted, str(path))

    def run(self, path: Path, inputs: Sequence[np.ndarray]) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            graph = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            return graph(*(torch.from_numpy(np.asarray(x)) for x in inputs)).numpy()


class OnnxFormat:
    """torch.onnx.export with the torch.export-based (dynamo) exporter, opset ONNX_OPSET, one
    self-contained file; run with onnxruntime."""

    name = "onnx"
    suffix = ".onnx"
    runtime = {
        "load": "onnxruntime.InferenceSession(path)",
        "needs": ["onnxruntime", "numpy"],
        "opset": ONNX_OPSET,
    }
    packages = ("onnx", "onnxscript", "onnxruntime")

    def check_available(self) -> None:
        for package in self.packages:
            try:
                importlib.import_module(package)
            except ImportError:
                raise AudioVAEError(
                    f"--format onnx needs the {package!r} package, which is not installed: "
                    f"pip install 'audiovae[export]' (or pip install {' '.join(self.packages)})"
                ) from None

    def write(
        self,
        module: nn.Module,
        example: Sequence[torch.Tensor],
        names: tuple[Sequence[str], Sequence[str]],
        path: Path,
    ) -> None:
        batch = torch.export.Dim("batch", min=1)
        params = list(inspect.signature(module.forward).parameters)[: len(example)]
        quiet = logging.getLogger("torch.onnx")  # e.g. "torchvision is not installed"
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.onnx.export(
                    module.eval(),
                    tuple(example),
                    input_names=list(names[0]),
                    output_names=list(names[1]),
                    opset_version=ONNX_OPSET,
                    dynamo=True,
                    external_data=False,
                    dynamic_shapes={param: {0: batch} for param in params},
                    verbose=False,
                )
        finally:
            quiet.setLevel(level)
        program.save(str(path), external_data=False)

    def run(self, path: Path, inputs: Sequence[np.ndarray]) -> np.ndarray:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        feeds = {
            spec.name: np.asarray(x) for spec, x in zip(session.get_inputs(), inputs, strict=True)
        }
        return session.run(None, feeds)[0]


FORMATS: dict[str, GraphFormat] = {f.name: f for f in (TorchScriptFormat(), OnnxFormat())}


def get_format(name: str) -> GraphFormat:
    """The format called `name`; AudioVAEError listing the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise AudioVAEError(
            f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}"
        ) from None

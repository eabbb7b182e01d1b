"""Export a trained model's encoder and decoder as standalone TorchScript or ONNX files.

Three graphs, each with a free batch axis and the model's fixed clip length:

- `encoder_audio`: mono waveform [batch, clip_samples] -> mu [batch, latent_dim], front end and
  normaliser included (the STFT as a DFT convolution, see graphs.DFTLogMel);
- `encoder_logmel`: raw log-mel [batch, n_mels, frames] (as AudioVAE.logmel) -> mu;
- `decoder`: z [batch, latent_dim] -> log-mel [batch, n_mels, frames] (as AudioVAE.decode).

A conditional model's graphs take a second input, `condition`: int64 [batch, labels], the index
of each clip's value in manifest["conditions"][label]. Every written file is loaded back with its
own runtime and compared with the AudioVAE API on a few clips; the largest differences are
recorded in the manifest.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audiovae.api import AudioVAE
from audiovae.deploy.formats import GraphFormat, get_format
from audiovae.deploy.graphs import AudioEncoder, LatentDecoder, LogMelEncoder
from audiovae.deploy.manifest import (
    MANIFEST,
    GraphEntry,
    TensorSpec,
    build_manifest,
    model_source,
)
from audiovae.errors import AudioVAEError

GRAPH_NAMES = ("encoder_audio", "encoder_logmel", "decoder")
TRACE_BATCH = 2  # a batch of 1 could be specialised away; the check runs a different size
CHECK_BATCH = 3
# Largest difference accepted between a written file and the AudioVAE API, relative to the
# reference's largest magnitude (plus one). The audio encoder's front end differs from
# torch.stft's FFT by float32 rounding, which the log amplifies in near-silent mel bands (1e-6
# on mu measured on synthetic notes, noise, tones and silence).
TOLERANCE = {"encoder_audio": 1e-3, "encoder_logmel": 1e-4, "decoder": 1e-4}


@dataclass
class Graph:
    """One graph to export: its module, its manifest entry, and example inputs."""

    name: str
    module: nn.Module
    entry: GraphEntry
    example: Callable[[int, torch.Generator], list[torch.Tensor]]

    @property
    def names(self) -> tuple[list[str], list[str]]:
        """Input and output tensor names."""
        return [t.name for t in self.entry.inputs], [t.name for t in self.entry.outputs]


def export_run(
    run_dir: str | Path, out_dir: str | Path, fmt: str, checkpoint: str = "best"
) -> dict[str, Any]:
    """Export the run folder's `checkpoint` to `out_dir` in format `fmt` ("torchscript" or
    "onnx"); returns the manifest it wrote. Errors the user can fix raise AudioVAEError."""
    graph_format = get_format(fmt)
    graph_format.check_available()
    run_dir = Path(run_dir)
    vae = AudioVAE.load(run_dir, checkpoint=checkpoint, device="cpu")
    return export_model(vae, out_dir, fmt, source=model_source(vae, run_dir, checkpoint))


def export_model(
    vae: AudioVAE, out_dir: str | Path, fmt: str, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write the three graphs of `vae` and manifest.json to `out_dir` (files of the same names
    are replaced), check each file against the API, and return the manifest."""
    graph_format = get_format(fmt)
    graph_format.check_available()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AudioVAEError(f"-o {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    vae = _on_cpu(vae)
    graphs = build_graphs(vae, graph_format.suffix)
    for graph in graphs:
        example = graph.example(TRACE_BATCH, torch.Generator().manual_seed(0))
        graph_format.write(graph.module, example, graph.names, out / graph.entry.file)
    checks = check_export(vae, graphs, graph_format, out)
    manifest = build_manifest(
        vae,
        graph_format,
        {g.name: g.entry for g in graphs},
        source if source is not None else model_source(vae, None, None),
        checks,
    )
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def build_graphs(vae: AudioVAE, suffix: str) -> list[Graph]:
    """The encoder_audio, encoder_logmel and decoder graphs of `vae`, with their tensor specs."""
    cfg = vae.model.cfg
    labels = list(cfg.conditions)
    mels, frames, latent = cfg.n_mels, cfg.frames, cfg.latent_dim
    condition = []
    if labels:
        condition = [
            TensorSpec(
                "condition",
                ("batch", len(labels)),
                "int64",
                note=f"columns {', '.join(labels)}: each clip's value index in conditions[label]",
            )
        ]
    audio = TensorSpec(
        "audio", ("batch", vae.clip_samples), "float32", note=f"mono, {vae.sample_rate} Hz"
    )
    logmel = TensorSpec("logmel", ("batch", mels, frames), "float32", note="natural-log mel power")
    mu = TensorSpec("mu", ("batch", latent), "float32", note="posterior mean")
    z = TensorSpec("z", ("batch", latent), "float32")

    def with_condition(make: Callable[[int, torch.Generator], torch.Tensor]):
        def example(batch: int, gen: torch.Generator) -> list[torch.Tensor]:
            inputs = [make(batch, gen)]
            if labels:
                inputs.append(example_condition(vae, batch, gen))
            return inputs

        return example

    def make_audio(batch: int, gen: torch.Generator) -> torch.Tensor:
        return example_audio(vae, batch, gen)

    def make_logmel(batch: int, gen: torch.Generator) -> torch.Tensor:
        return vae.logmel(example_audio(vae, batch, gen))

    def make_z(batch: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(batch, latent, generator=gen)

    model, frontend = vae.model, vae.frontend
    return [
        Graph(
            "encoder_audio",
            AudioEncoder(model, frontend).eval(),
            GraphEntry(
                f"encoder_audio{suffix}",
                "waveform -> posterior mean (log-mel front end and normaliser included)",
                [audio, *condition],
                [mu],
            ),
            with_condition(make_audio),
        ),
        Graph(
            "encoder_logmel",
            LogMelEncoder(model).eval(),
            GraphEntry(
                f"encoder_logmel{suffix}",
                "raw log-mel (as AudioVAE.logmel) -> posterior mean (normaliser included)",
                [logmel, *condition],
                [mu],
            ),
            with_condition(make_logmel),
        ),
        Graph(
            "decoder",
            LatentDecoder(model).eval(),
            GraphEntry(
                f"decoder{suffix}",
                "latents -> log-mel in the units of AudioVAE.decode (denormalised)",
                [z, *condition],
                [TensorSpec("logmel", ("batch", mels, frames), "float32")],
            ),
            with_condition(make_z),
        ),
    ]


def example_audio(vae: AudioVAE, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Decaying harmonic tones with a little noise, [batch, clip_samples]: audio-like inputs
    that reach both loud and near-silent mel bands."""
    n = vae.clip_samples
    t = torch.arange(n, dtype=torch.float64) / vae.sample_rate
    f0 = 80.0 + 900.0 * torch.rand(batch, 1, generator=gen, dtype=torch.float64)
    tone = torch.zeros(batch, n, dtype=torch.float64)
    for k in range(1, 6):
        tone += torch.sin(2 * torch.pi * k * f0 * t) * (k * f0 < 0.45 * vae.sample_rate) / k
    decay = torch.exp(-t * (1.0 + 6.0 * torch.rand(batch, 1, generator=gen, dtype=torch.float64)))
    noise = 1e-3 * torch.randn(batch, n, generator=gen, dtype=torch.float64)
    return (0.3 * tone * decay + noise).to(torch.float32)


def example_condition(vae: AudioVAE, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Random value indices, int64 [batch, labels], one column per condition label."""
    columns = [
        torch.randint(0, len(values), (batch,), generator=gen)
        for values in vae.model.cfg.conditions.values()
    ]
    return torch.stack(columns, dim=1)


def condition_values(vae: AudioVAE, indices: torch.Tensor) -> dict[str, list[str]] | None:
    """The `condition=` argument of the AudioVAE API for exported-style value indices."""
    if not vae.model.is_conditional:
        return None
    return {
        name: [values[int(i)] for i in indices[:, j]]
        for j, (name, values) in enumerate(vae.model.cfg.conditions.items())
    }


def reference_output(vae: AudioVAE, name: str, inputs: list[torch.Tensor]) -> torch.Tensor:
    """What the AudioVAE API gives for a graph's inputs (its front end uses torch.stft)."""
    condition = condition_values(vae, inputs[1]) if len(inputs) > 1 else None
    if name == "encoder_audio":
        return vae.encode(inputs[0], condition=condition)[0]
    if name == "encoder_logmel":
        return vae.encode_logmel(inputs[0], condition=condition)[0]
    if name == "decoder":
        return vae.decode(inputs[0], condition=condition)
    raise ValueError(f"unknown graph {name!r}; expected one of {GRAPH_NAMES}")


def check_export(
    vae: AudioVAE, graphs: list[Graph], graph_format: GraphFormat, out: Path
) -> dict[str, float]:
    """Run each written file with its own runtime on a batch it was not traced at and return
    the largest absolute difference from the AudioVAE API; RuntimeError past TOLERANCE."""
    checks: dict[str, float] = {}
    for graph in graphs:
        inputs = graph.example(CHECK_BATCH, torch.Generator().manual_seed(1))
        got = graph_format.run(out / graph.entry.file, [x.numpy() for x in inputs])
        want = reference_output(vae, graph.name, inputs).float().numpy()
        if got.shape != want.shape:
            raise RuntimeError(
                f"exported {graph.name} gave shape {got.shape}, the model {want.shape}"
            )
        diff = float(np.abs(got - want).max())
        limit = TOLERANCE[graph.name] * (1.0 + float(np.abs(want).max()))
        if not diff <= limit:
            raise RuntimeError(
                f"exported {graph.name} differs from the model by {diff:.3g} (limit {limit:.3g})"
            )
        checks[f"{graph.name}_max_abs_diff"] = diff
    return checks


def _on_cpu(vae: AudioVAE) -> AudioVAE:
    """`vae` itself if on the CPU, else a CPU copy (graphs are traced on the CPU)."""
    if vae.device.type == "cpu":
        return vae
    model = copy.deepcopy(vae.model).cpu()
    frontend = copy.deepcopy(vae.frontend).cpu()
    return AudioVAE(model, frontend, vae.clip_samples, vae.meta, "cpu", manifest=vae.manifest)

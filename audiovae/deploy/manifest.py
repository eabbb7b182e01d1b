"""manifest.json of an export folder: everything a user without audiovae needs to feed the files
(front-end settings, clip length, tensor names, shapes and dtypes) and where the model came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import audiovae
from audiovae.api import AudioVAE
from audiovae.deploy.formats import GraphFormat

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an exported graph; "batch" marks the free first axis."""

    name: str
    shape: tuple[str | int, ...]
    dtype: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class GraphEntry:
    """One exported file as the manifest lists it."""

    file: str
    description: str
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "description": self.description,
            "inputs": [t.as_dict() for t in self.inputs],
            "outputs": [t.as_dict() for t in self.outputs],
        }


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (the checkpoint's fingerprint: `sha256sum` gives the same)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_source(vae: AudioVAE, run_dir: Path | None, checkpoint: str | None) -> dict[str, Any]:
    """Where the weights came from: run folder name, checkpoint and its SHA-256, training step,
    objective and the git commit the run was trained at (whatever the run recorded)."""
    manifest = vae.manifest
    source: dict[str, Any] = {
        "run": run_dir.resolve().name if run_dir is not None else None,
        "checkpoint": checkpoint,
        "checkpoint_sha256": None,
        "step": vae.meta.get("step"),
        "objective": manifest.objective_name if manifest else None,
        "trained_with": manifest.trained_with if manifest else None,
        "git": manifest.git.model_dump() if manifest and manifest.git else None,
    }
    if run_dir is not None and checkpoint is not None:
        path = run_dir / "checkpoints" / f"{checkpoint}.safetensors"
        source["checkpoint_sha256"] = file_sha256(path)
    return source


def build_manifest(
    vae: AudioVAE,
    fmt: GraphFormat,
    graphs: dict[str, GraphEntry],
    source: dict[str, Any],
    checks: dict[str, float],
) -> dict[str, Any]:
    """The manifest of one export folder (JSON-able)."""
    fe = vae.frontend
    cfg = vae.model.cfg
    return {
        "manifest_version": MANIFEST_VERSION,
        "format": fmt.name,
        "runtime": dict(fmt.runtime),
        "audiovae_version": audiovae.__version__,
        "torch_version": torch.__version__,
        "model": source,
        "sample_rate": fe.sample_rate,
        "clip_samples": vae.clip_samples,
        "clip_seconds": vae.clip_samples / fe.sample_rate,
        "n_fft": fe.n_fft,
        "hop_length": fe.hop_length,
        "n_mels": cfg.n_mels,
        "frames": cfg.frames,
        "latent_dim": cfg.latent_dim,
        "frontend": fe.config(),
        "audio_input": (
            f"mono float32 at {fe.sample_rate} Hz, exactly {vae.clip_samples} samples: crop "
            "longer audio from the start and zero-pad shorter audio at the end, as "
            "AudioVAE.encode does"
        ),
        "log_mel": (
            "natural log of mel power: log(max(mel_filterbank @ |STFT|^2, log_floor)), Hann "
            "window of n_fft, centred frames with zero padding of n_fft // 2 on both sides; "
            "the values AudioVAE.logmel returns and AudioVAE.decode produces"
        ),
        "conditions": {name: list(values) for name, values in cfg.conditions.items()},
        "graphs": {name: entry.as_dict() for name, entry in graphs.items()},
        "checks": checks,
    }

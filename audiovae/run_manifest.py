"""RunManifest: what a run folder (manifest.json) and each of its checkpoints record of the model.

The trainer writes it when a run starts (train/run_folder.py); the inference side (AudioVAE.load,
deploy, report, generate, evaluate) reads it through this one class, without the training package.
Keys added to the manifest over time have defaults, so run folders written by older versions still
load; a key of the wrong type is refused with one line naming the file and the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audiovae.errors import CheckpointError
from audiovae.models.conv import ConvVAEConfig

MANIFEST_FILE = "manifest.json"


class ManifestError(CheckpointError):
    """A run manifest that is not JSON, or has a key of the wrong type."""


class _Record(BaseModel):
    # keys written by a newer audiovae are ignored, not refused
    model_config = ConfigDict(extra="ignore", frozen=True)


class FrontEndSettings(_Record):
    """The log-mel front end's settings (`LogMelFrontEnd(**settings.model_dump())`)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: str = "slaney"
    norm: str | None = "slaney"
    log_floor: float = 1e-5


class DataSummary(_Record):
    """Where the training and validation clips came from, and how many there were."""

    train_source: str | None = None
    train_clips: int | None = None
    valid_source: str | None = None
    valid_clips: int | None = None
    train_cache: str | None = None  # the feature cache folder (swap reads labels from it)
    skipped: int = 0  # unreadable files left out (data.on_bad_file: skip)


class RuntimeInfo(_Record):
    """The device and processes that trained the run (recorded since torchrun support)."""

    device: str | None = None
    device_name: str | None = None
    world_size: int = 1
    threads: int | None = None
    precision: str | None = None


class GitInfo(_Record):
    """The commit of the audiovae source tree that trained the run, if it was a git checkout."""

    commit: str = ""
    dirty: bool = False


class RunManifest(_Record):
    """The run manifest: model architecture, front end and clip length (enough to rebuild the
    model), the objective's settings, a data summary, labels, pairs, runtime and provenance."""

    model: ConvVAEConfig
    frontend: FrontEndSettings
    clip_samples: int = Field(gt=0)
    objective: dict[str, Any] = Field(default_factory=dict)  # the objective's resolved config
    data: DataSummary = Field(default_factory=DataSummary)
    label_names: list[str] = Field(default_factory=list)
    pairs: dict[str, Any] | None = None  # data.pairs' plan summary (data/pairs.py)
    label_vocab: dict[str, list[Any]] = Field(default_factory=dict)
    runtime: RuntimeInfo | None = None  # None in run folders written before it was recorded
    versions: dict[str, str | None] = Field(default_factory=dict)
    git: GitInfo | None = None

    @property
    def objective_name(self) -> str | None:
        """`objective.name` of the recipe the run trained with."""
        name = self.objective.get("name")
        return str(name) if name is not None else None

    @property
    def trained_with(self) -> str | None:
        """The audiovae version that trained the run."""
        return self.versions.get("audiovae")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able dict written to manifest.json and into each checkpoint's metadata."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, tree: Any, source: str | Path = "run manifest") -> RunManifest:
        """Validate a manifest dict; `source` (the file it came from) names it in the error."""
        if not isinstance(tree, dict):
            raise ManifestError(
                f"{source}: the run manifest is {type(tree).__name__}, not a mapping"
            )
        try:
            return cls.model_validate(tree)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            got = err.get("input")
            got_text = (
                "" if err["type"] == "missing" or isinstance(got, dict) else f" (got {got!r})"
            )
            msg = err["msg"].removeprefix("Value error, ")
            raise ManifestError(f"{source}: manifest key {key!r}: {msg}{got_text}") from None

    @classmethod
    def read(cls, path: str | Path) -> RunManifest:
        """Read a manifest.json (a run folder's, or a folder holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_FILE
        try:
            tree = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"{path}: no run manifest here (is it a run folder?)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{path}: not readable JSON ({exc})") from None
        return cls.from_dict(tree, path)

    def write(self, run_dir: str | Path) -> Path:
        """Write RUN/manifest.json atomically (a temporary file renamed over it)."""
        path = Path(run_dir) / MANIFEST_FILE
        tmp = path.with_name(f".{MANIFEST_FILE}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)
        return path

"""The run folder a training run writes: its checkpoint paths, the checks before a run starts or
resumes, the lock, the files written when it starts (recipe.yaml, the typed manifest.json,
split.json) and metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml

from audiovae.checkpoints import read_metadata
from audiovae.data.split import RunSplit, write_split
from audiovae.errors import AudioVAEError, CheckpointError
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.features.training_data import TrainingData
from audiovae.models.conv import ConvVAEConfig
from audiovae.recipe import Recipe
from audiovae.run_manifest import DataSummary, FrontEndSettings, GitInfo, RunManifest, RuntimeInfo
from audiovae.train.provenance import git_commit, package_versions
from audiovae.train.runlock import RunFolderLock, refuse_if_in_use

LAST = "checkpoints/last.safetensors"
BEST = "checkpoints/best.safetensors"
PREVIOUS = "checkpoints/previous.safetensors"  # the resumable checkpoint before `last`
METRICS = "metrics.jsonl"
RECIPE = "recipe.yaml"

# train settings a resumed run may change: its budget and how it runs, not what it learns
RESUMABLE_CHANGES = frozenset({
    "epochs", "max_steps", "progress", "num_threads", "device", "log_every", "compile",
    "cache_on_device",
})  # fmt: skip


class RunFolder:
    """One run folder: `path / LAST` etc., its lock, and the checks a trainer makes on it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock = RunFolderLock(self.path)  # taken by Trainer.fit, for the whole run

    def check_before_start(self, recipe: Recipe, resume: bool, is_main: bool = True) -> None:
        """Refuse early (before data and model are built) a folder that another process trains
        into, a new run into a folder that holds one, a resume with nothing to resume from or
        with a recipe that changed more than its budget."""
        recipe_file = self.path / RECIPE
        if is_main:
            refuse_if_in_use(self.path)
        if resume:
            if not (self.path / LAST).is_file() and not (self.path / PREVIOUS).is_file():
                if recipe_file.is_file():  # started, then killed before its first checkpoint
                    raise CheckpointError(
                        f"--resume: {self.path} holds a run that stopped before its first "
                        f"checkpoint (every {recipe.train.checkpoint_every} steps), so there is "
                        f"no checkpoint at {self.path / LAST} to resume from; remove the folder "
                        "or choose another --out to start over"
                    )
                raise CheckpointError(f"--resume: no checkpoint at {self.path / LAST}")
            stored = yaml.safe_load(recipe_file.read_text()) if recipe_file.is_file() else {}
            self.check_same_recipe(stored, recipe)
        elif (self.path / LAST).exists() or recipe_file.exists():
            raise AudioVAEError(
                f"{self.path} already holds a run; "
                "pass --resume to continue it or choose another --out"
            )

    def check_same_recipe(self, stored: dict[str, Any], recipe: Recipe) -> None:
        """A resumed run may extend its budget (epochs, max_steps) but change nothing else."""
        diffs = []
        for section, values in recipe.to_dict().items():
            for key, value in values.items():
                if key not in stored.get(section, {}):
                    continue  # a key added to audiovae after the run began: its default holds
                old = stored.get(section, {}).get(key)
                if old != value and not (section == "train" and key in RESUMABLE_CHANGES):
                    diffs.append(f"{section}.{key}: {old!r} -> {value!r}")
        if diffs:
            raise AudioVAEError(
                f"--resume: the recipe differs from the one {self.path} was started with ("
                + "; ".join(diffs)
                + "); only train.epochs / train.max_steps may change"
            )

    def check_unchanged(self, step: int, resume: bool, resumed_from: str | None) -> None:
        """The folder's last checkpoint is still the state (`step`) a trainer starts from:
        another `train` may have filled it between the trainer's checks and its lock."""
        if resumed_from == PREVIOUS:
            return  # `last` is damaged: nothing to compare with
        try:
            last_step = int(read_metadata(self.path / LAST)["step"])
        except (CheckpointError, KeyError, TypeError, ValueError):
            return
        if last_step == step:
            return
        if not resume:
            raise AudioVAEError(
                f"{self.path} already holds a run; "
                "pass --resume to continue it or choose another --out"
            )
        raise AudioVAEError(
            f"{self.path} moved on to step {last_step} while this process was starting from "
            f"step {step} (another process trained into it); run --resume again"
        )

    def start(self, recipe: Recipe, manifest: RunManifest, split: RunSplit) -> None:
        """Create the folder with the resolved recipe (kept from the first start), the manifest
        and the split."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / RECIPE).is_file():
            (self.path / RECIPE).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
        manifest.write(self.path)
        write_split(self.path, split)

    def remove_stale_temporaries(self) -> None:
        """Delete the temporary checkpoint files a killed writer left behind."""
        for stale in (self.path / "checkpoints").glob(".*.tmp-*"):
            stale.unlink(missing_ok=True)

    def kept_checkpoint(self) -> str:
        """Which resumable checkpoint the run folder holds, for error messages."""
        for name in (LAST, PREVIOUS):
            try:
                step = read_metadata(self.path / name)["step"]
            except (CheckpointError, KeyError):
                continue
            return f"{self.path / name} (step {step}) is kept"
        return "no checkpoint was written yet"

    def last_recorded_step(self) -> int | None:
        """The step a damaged `last` held: from its header if that survived, else the last step
        logged in metrics.jsonl."""
        try:
            return int(read_metadata(self.path / LAST)["step"])
        except (CheckpointError, KeyError, TypeError, ValueError):
            pass
        steps = [row.get("step") for row in metrics_rows(self.path / METRICS)]
        return max((s for s in steps if isinstance(s, int)), default=None)


def run_split(data: TrainingData) -> RunSplit:
    """The clip ids a run trains and validates on (recorded in RUN/split.json)."""
    return RunSplit([data.train.ids[i] for i in data.train_indices],
                    [data.valid.ids[i] for i in data.valid_indices],
                    "fraction" if data.valid is data.train else "folder")  # fmt: skip


def run_manifest(
    recipe: Recipe,
    model_cfg: ConvVAEConfig,
    frontend: LogMelFrontEnd,
    data: TrainingData,
    *,
    pairs: dict[str, Any] | None,
    label_vocab: dict[str, list[str]],
    device: torch.device,
    world_size: int,
    precision: torch.dtype | None,
) -> RunManifest:
    """What a run folder and every checkpoint record about the model a run trains."""
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    commit = git_commit()
    return RunManifest(
        model=model_cfg,
        frontend=FrontEndSettings(**frontend.config()),
        clip_samples=recipe.data.window_samples,
        objective=recipe.objective_config().model_dump(mode="json"),
        data=DataSummary(**data.summary()),
        label_names=sorted(data.train.labels),
        pairs=pairs,
        label_vocab=label_vocab,
        runtime=RuntimeInfo(
            device=str(device),
            device_name=device_name,
            world_size=world_size,
            threads=torch.get_num_threads(),
            precision=str(precision or torch.float32).replace("torch.", ""),
        ),
        versions=package_versions(),
        git=None if commit is None else GitInfo(**commit),
    )


def metrics_rows(path: Path) -> list[dict[str, Any]]:
    """The readable rows of a metrics.jsonl (a line cut short by a crash is skipped)."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def drop_rows_after(path: Path, step: int) -> None:
    """Forget the metrics.jsonl rows a resumed run will write again (logged after the
    checkpoint it resumes from), as TensorBoard's purge_step does for the event files."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = []
    for line in lines:
        try:
            row_step = json.loads(line).get("step")
        except (json.JSONDecodeError, AttributeError):
            continue
        if not isinstance(row_step, int) or row_step <= step:
            keep.append(line if line.endswith("\n") else line + "\n")
    if keep != lines:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(keep))
        tmp.replace(path)

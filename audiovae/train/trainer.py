"""The training loop: feature cache in, checkpoints, logs and a reconstruction plot out.

Steps are counted globally; the data order of epoch e is a permutation drawn from (seed, e), the
reparameterisation noise comes from a generator whose state is checkpointed, and the learning rate
is a pure function of the step. So a run resumed from any checkpoint continues exactly as if it had
never stopped. The loop is written around one global batch per step; under torchrun each rank
trains on its contiguous slice of it with DistributedDataParallel (see train/distributed.py), and
noise and crop offsets are drawn for the global batch, so N processes follow the same trajectory
as one process with the same global batch, and a checkpoint resumes at any world size.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from audiovae.data.pairs import PairPlan, plan_from_section
from audiovae.data.sources import training_clipsets
from audiovae.data.split import RunSplit, write_split
from audiovae.errors import (
    AudioVAEError,
    CheckpointError,
    CheckpointWriteError,
    RecipeError,
    RunFolderBusy,
    TrainingDiverged,
    TrainingStopped,
)
from audiovae.features.cache import FeatureCache, build_cache
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.features.normalization import mel_band_statistics
from audiovae.models.conv import ConvVAE, ConvVAEConfig, condition_vocabulary
from audiovae.models.noise import batch_shard
from audiovae.objectives import Objective, get_objective
from audiovae.objectives.kl import COLLAPSED_KL
from audiovae.train import distributed
from audiovae.train.checkpoint import (
    load_checkpoint,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    read_metadata,
    save_checkpoint,
)
from audiovae.train.label_dims import label_eta_squared, write_label_dims
from audiovae.train.labels import hide_labels, label_codes, label_vocabularies, labelled_notes
from audiovae.train.provenance import git_commit, package_versions
from audiovae.train.recipe import Recipe
from audiovae.train.runlock import RunFolderLock, refuse_if_in_use
from audiovae.train.runtime import (
    STOP_INTERRUPT,
    StepBoundaryInterrupt,
    autocast_dtype,
    resolve_device,
    set_threads,
)
from audiovae.train.step import ObjectiveStep

log = logging.getLogger(__name__)
LAST = "checkpoints/last.safetensors"
BEST = "checkpoints/best.safetensors"
PREVIOUS = "checkpoints/previous.safetensors"  # the resumable checkpoint before `last`


def frontend_from_recipe(recipe: Recipe) -> LogMelFrontEnd:
    """The log-mel front end a recipe describes."""
    f = recipe.features
    return LogMelFrontEnd(
        sample_rate=recipe.data.sample_rate,
        n_fft=f.n_fft,
        hop_length=f.hop_length,
        n_mels=f.n_mels,
        f_min=f.f_min,
        f_max=f.f_max,
        mel_scale=f.mel_scale,
        norm=f.norm,
        log_floor=f.log_floor,
    )


def condition_labels(recipe: Recipe) -> list[str]:
    """Labels the model is conditioned on (the objective's `condition`, e.g. cvae's)."""
    return list(getattr(recipe.objective_config(), "condition", []) or [])


def model_config_from_recipe(
    recipe: Recipe, frontend: LogMelFrontEnd, labels: dict[str, list] | None = None
) -> ConvVAEConfig:
    """Model architecture for a recipe: input size from the front end and clip length; for a
    conditional objective, the vocabulary of each condition label from the training `labels`."""
    m = recipe.model
    conditions = {}
    for name in condition_labels(recipe):
        if labels is None or name not in labels:
            have = ", ".join(sorted(labels or {}))
            raise AudioVAEError(
                f"objective.condition: the data has no label {name!r}; it has: {have}"
            )
        conditions[name] = condition_vocabulary(labels[name])
    return ConvVAEConfig(
        conditions=conditions,
        n_mels=frontend.n_mels,
        frames=frontend.num_frames(recipe.data.window_samples),
        latent_dim=m.latent_dim,
        channels=list(m.channels),
        kernel_size=m.kernel_size,
        groups=m.groups,
        activation=m.activation,
        subspaces=dict(m.subspaces),
    )


def lr_at(step: int, total_steps: int, train) -> float:
    """Learning rate at `step`: linear warm-up, then constant or cosine decay to min_lr_ratio."""
    if train.warmup_steps and step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    if train.schedule == "constant":
        return train.lr
    span = max(1, total_steps - train.warmup_steps)
    progress = min(1.0, (step - train.warmup_steps) / span)
    floor = train.min_lr_ratio
    return train.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class TrainingData:
    """Caches and index sets for one run."""

    train: FeatureCache
    train_indices: np.ndarray
    valid: FeatureCache
    valid_indices: np.ndarray

    def summary(self) -> dict[str, Any]:
        return {
            "train_source": self.train.meta["source"],
            "train_clips": int(self.train_indices.size),
            "valid_source": self.valid.meta["source"],
            "valid_clips": int(self.valid_indices.size),
            "train_cache": str(self.train.path),
            "skipped": len(self.train.meta.get("skipped", [])),
        }


def prepare_data(
    recipe: Recipe,
    frontend: LogMelFrontEnd,
    progress: bool = True,
    ctx: distributed.DistributedContext | None = None,
) -> TrainingData:
    """Build (or open) the feature caches and the train / validation split.

    Log-mels are computed on the front end's device, and in chunks of 8 clips on CPU. Under
    torchrun the first process of each node builds the cache while the others wait, then open it.
    """
    ctx = ctx or distributed.DistributedContext()
    if ctx.local_rank != 0:
        distributed.barrier(ctx)
    try:
        return _prepare_data(recipe, frontend, progress and ctx.is_main)
    finally:
        if ctx.local_rank == 0:
            distributed.barrier(ctx)


def _prepare_data(recipe: Recipe, frontend: LogMelFrontEnd, progress: bool) -> TrainingData:
    data = recipe.data
    train_clips, valid_clips = training_clipsets(data)
    cache_root = Path(recipe.features.cache_dir) if recipe.features.cache_dir else None
    common = dict(cache_root=cache_root, on_bad_file=data.on_bad_file, progress=progress)
    train = build_cache(train_clips, frontend, data.clip_samples, **common)
    if valid_clips is not None:
        valid = build_cache(valid_clips, frontend, data.clip_samples, **common)
        return TrainingData(train, np.arange(len(train)), valid, np.arange(len(valid)))
    n = len(train)
    n_valid = max(1, int(round(data.valid_fraction * n)))
    if n - n_valid < 1:
        raise AudioVAEError(f"only {n} clips: too few to hold out a validation set")
    perm = np.random.default_rng(recipe.train.seed).permutation(n)
    return TrainingData(train, np.sort(perm[n_valid:]), train, np.sort(perm[:n_valid]))


class Trainer:
    """Trains one recipe into one run folder (`fit`), resuming from its last checkpoint if asked."""

    def __init__(self, recipe: Recipe, out_dir: str | Path, *, resume: bool = False) -> None:
        self.recipe = recipe
        self.out = Path(out_dir)
        self.resume = resume
        self.cfg = recipe.train
        self.dist = distributed.context_from_env()
        self._check_run_folder()
        set_threads(self.cfg.num_threads, self.dist.local_world_size)
        self.device = distributed.rank_device(self.dist, resolve_device(self.cfg.device))
        distributed.init_process_group(self.dist, self.device)
        self.amp_dtype = autocast_dtype(self.cfg.precision, self.device)
        self.frontend = frontend_from_recipe(recipe).to(self.device)
        self.data = prepare_data(recipe, self.frontend, self.cfg.progress, self.dist)
        self.model_cfg = model_config_from_recipe(recipe, self.frontend, self.data.train.labels)
        torch.manual_seed(self.cfg.seed)
        self.model = ConvVAE(self.model_cfg)
        mean, std = mel_band_statistics(self.data.train.features, self.data.train_indices)
        self.model.normalizer.set_statistics(mean, std)
        self.model.to(self.device)
        objective_cfg = recipe.objective_config()
        objective_cls = get_objective(objective_cfg.name)
        self.label_vocab = label_vocabularies(
            objective_cls.labels_needed(objective_cfg),
            self.data.train.labels,
            self.data.train_indices,
            key=f"objective ({objective_cfg.name})",
        )
        extra = {"label_vocab": self.label_vocab, "subspaces": dict(self.model_cfg.subspaces)}
        self.objective: Objective = objective_cls(
            objective_cfg,
            n_mels=self.model_cfg.n_mels,
            dataset_size=int(self.data.train_indices.size),
            latent_dim=self.model_cfg.latent_dim,
            **(extra if self.label_vocab else {}),
        ).to(self.device)
        self._label_table: dict[int, dict[str, np.ndarray]] = {}
        self._label_hidden = self._hidden_labels(getattr(objective_cfg, "label_fraction", 1.0))
        params = list(self.model.parameters()) + self.objective.main_parameters()
        self.aux_optimizer = self.objective.make_auxiliary_optimizer()
        self.optimizer = torch.optim.AdamW(
            params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )
        self.noise = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 1)
        n_train = int(self.data.train_indices.size)
        self.batch_size = min(self.cfg.batch_size, n_train)
        distributed.check_divisible(self.batch_size, self.dist)
        self.pairs, self._valid_pairs = self._pair_plans()
        self.step_module = self._wrap(ObjectiveStep(self.model, self.objective))
        self._resident: dict[int, torch.Tensor] = {}
        if self._keep_cache_on_device():
            self._resident[id(self.data.train)] = _resident_copy(
                self.data.train.features, self.device
            )
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        self._bad_terms: dict[str, torch.Tensor] = {}
        self.steps_per_epoch = n_train // self.batch_size
        total = self.cfg.epochs * self.steps_per_epoch
        self.total_steps = min(total, self.cfg.max_steps) if self.cfg.max_steps else total
        self.step = 0
        self.best_val = math.inf
        self.best_step: int | None = None
        if resume:
            self._load_state()

    # ------------------------------------------------------------------- devices and ranks
    def _wrap(self, step: ObjectiveStep) -> torch.nn.Module:
        """The loss module as the loop calls it: under DDP when launched by torchrun (the
        auxiliary discriminators left out: their gradients are averaged by hand), compiled when
        the recipe asks."""
        module: torch.nn.Module = step
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            DDP._set_params_and_buffers_to_ignore_for_model(step, step.auxiliary_parameter_names())
            with warnings.catch_warnings():  # broadcast_buffers: its successor is not out yet
                warnings.simplefilter("ignore", FutureWarning)
                module = DDP(
                    step,
                    device_ids=[self.device.index] if self.device.type == "cuda" else None,
                    broadcast_buffers=False,  # normaliser statistics are alike on every rank
                )
        if self.cfg.compile:
            module = torch.compile(module)
        return module

    def _keep_cache_on_device(self) -> bool:
        """Whether to hold the whole training cache in device memory and gather batches there
        (no host work between steps): `auto` does so on CUDA when it takes under half the free
        memory; `yes` also on CPU (the cache read into RAM once instead of memory-mapped)."""
        policy = self.cfg.cache_on_device
        if policy == "no":
            return False
        if policy == "yes":
            return True
        if self.device.type != "cuda":
            return False
        free, _ = torch.cuda.mem_get_info(self.device)
        return self.data.train.features.nbytes < 0.5 * free

    def _batch(self, cache: FeatureCache, indices: np.ndarray) -> torch.Tensor:
        """float32 log-mels of `indices`, gathered on the device when the cache lives there."""
        resident = self._resident.get(id(cache))
        if resident is None:
            return cache.batch(indices)
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=resident.device)
        return resident.index_select(0, idx).float()

    # ----------------------------------------------------------------- run folder and state
    def _check_run_folder(self) -> None:
        """Refuse early (before data and model are built) a folder that another process trains
        into, a new run into a folder that holds one, a resume with nothing to resume from."""
        recipe_file = self.out / "recipe.yaml"
        self._lock = RunFolderLock(self.out)  # taken by fit(), for the whole run
        if self.dist.is_main:
            refuse_if_in_use(self.out)
        if self.resume:
            if not (self.out / LAST).is_file() and not (self.out / PREVIOUS).is_file():
                raise CheckpointError(f"--resume: no checkpoint at {self.out / LAST}")
            stored = yaml.safe_load(recipe_file.read_text()) if recipe_file.is_file() else {}
            self._check_same_recipe(stored)
        elif (self.out / LAST).exists() or recipe_file.exists():
            raise AudioVAEError(
                f"{self.out} already holds a run; "
                "pass --resume to continue it or choose another --out"
            )

    def _check_same_recipe(self, stored: dict[str, Any]) -> None:
        """A resumed run may extend its budget (epochs, max_steps) but change nothing else."""
        current = self.recipe.to_dict()
        flexible = {
            "epochs", "max_steps", "progress", "num_threads", "device", "log_every", "compile",
            "cache_on_device",
        }  # fmt: skip
        diffs = []
        for section, values in current.items():
            for key, value in values.items():
                if key not in stored.get(section, {}):
                    continue  # a key added to audiovae after the run began: its default holds
                old = stored.get(section, {}).get(key)
                if old != value and not (section == "train" and key in flexible):
                    diffs.append(f"{section}.{key}: {old!r} -> {value!r}")
        if diffs:
            raise AudioVAEError(
                f"--resume: the recipe differs from the one {self.out} was started with ("
                + "; ".join(diffs)
                + "); only train.epochs / train.max_steps may change"
            )

    def start_run_folder(self) -> None:
        """Create the run folder with the resolved recipe and manifest."""
        self.out.mkdir(parents=True, exist_ok=True)
        if not (self.out / "recipe.yaml").is_file():
            (self.out / "recipe.yaml").write_text(
                yaml.safe_dump(self.recipe.to_dict(), sort_keys=False)
            )
        (self.out / "manifest.json").write_text(json.dumps(self.manifest(), indent=2))
        write_split(self.out, self.split())

    def split(self) -> RunSplit:
        """The clip ids this run trains and validates on (recorded in RUN/split.json)."""
        d = self.data
        return RunSplit([d.train.ids[i] for i in d.train_indices],
                        [d.valid.ids[i] for i in d.valid_indices],
                        "fraction" if d.valid is d.train else "folder")  # fmt: skip

    def manifest(self) -> dict[str, Any]:
        """What a run folder and every checkpoint record about this model."""
        labels = self.data.train.labels
        return {
            "model": self.model_cfg.__dict__ | {"channels": list(self.model_cfg.channels)},
            "frontend": self.frontend.config(),
            "clip_samples": self.recipe.data.window_samples,
            "objective": self.recipe.objective_config().model_dump(mode="json"),
            "data": self.data.summary(),
            "label_names": sorted(labels),
            "pairs": None if self.pairs is None else self.pairs.summary(),
            "label_vocab": self.label_vocab,
            "runtime": {
                "device": str(self.device),
                "device_name": (
                    torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
                ),
                "world_size": self.dist.world_size,
                "threads": torch.get_num_threads(),
                "precision": str(self.amp_dtype or torch.float32).replace("torch.", ""),
            },
            "versions": package_versions(),
            "git": git_commit(),
        }

    def _state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update({f"objective.{k}": v for k, v in self.objective.state_dict().items()})
        optim_tensors, optim_info = optimizer_state_to_tensors(self.optimizer.state_dict())
        tensors.update(optim_tensors)
        aux_info = None
        if self.aux_optimizer is not None:
            aux_tensors, aux_info = optimizer_state_to_tensors(
                self.aux_optimizer.state_dict(), prefix="aux_optim"
            )
            tensors.update(aux_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.noise"] = self.noise.get_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        state = {
            "step": self.step,
            "best_val": None if math.isinf(self.best_val) else self.best_val,
            "best_step": self.best_step,
            "noise_device": self.device.type,
            "optimizer": optim_info,
            "aux_optimizer": aux_info,
            "recipe": self.recipe.to_dict(),
            "manifest": self.manifest(),
        }
        return tensors, state

    def save(self) -> Path:
        """Write the full training state to checkpoints/last.safetensors (atomically), keeping
        the one it replaces as previous.safetensors. A failed write (disk full, permission)
        leaves both untouched and raises CheckpointWriteError saying what is kept."""
        tensors, state = self._state_tensors()
        # a damaged `last` (this run resumed from `previous`) is replaced, never kept
        damaged = getattr(self, "_resumed_from", None) == PREVIOUS
        try:
            path = save_checkpoint(
                self.out / LAST,
                tensors,
                state,
                keep_previous=None if damaged else self.out / PREVIOUS,
            )
            self._resumed_from = LAST
            return path
        except CheckpointWriteError as err:
            raise CheckpointWriteError(
                f"{err}; training stopped at step {self.step}; {self._kept_checkpoint()}; "
                "free space (or fix the permission) and run again with --resume"
            ) from None

    def _kept_checkpoint(self) -> str:
        """Which resumable checkpoint the run folder holds, for error messages."""
        for name in (LAST, PREVIOUS):
            try:
                step = read_metadata(self.out / name)["step"]
            except (CheckpointError, KeyError):
                continue
            return f"{self.out / name} (step {step}) is kept"
        return "no checkpoint was written yet"

    def _save_best(self) -> None:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update({f"objective.{k}": v for k, v in self.objective.state_dict().items()})
        kl = getattr(self, "_last_val_kl", None)
        meta = {
            "step": self.step,
            "best_val": self.best_val,
            "valid_kl_per_dim": None if kl is None else [float(v) for v in kl],
            "recipe": self.recipe.to_dict(),
            "manifest": self.manifest(),
        }
        save_checkpoint(self.out / BEST, tensors, meta)

    def _resumable_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], Path]:
        """The training state to resume from: `last`, or, when `last` is damaged (unreadable,
        truncated, a checksum that does not match) or missing, `previous`, with a warning that
        names both and the steps that will be trained again."""
        last, prev = self.out / LAST, self.out / PREVIOUS
        try:
            return (*load_checkpoint(last), last)
        except CheckpointError as err:
            if not prev.is_file():
                raise
            damage = str(err).removeprefix(f"{last}: ")
        try:
            tensors, state = load_checkpoint(prev)
        except CheckpointError as err:
            raise CheckpointError(
                f"--resume: both checkpoints are damaged: {last}: {damage}; {err}"
            ) from None
        lost_to = self._last_recorded_step()
        lost = f"steps {state['step']}-{lost_to}" if lost_to else f"the steps after {state['step']}"
        if self.dist.is_main:
            log.warning(
                "%s is damaged (%s); resuming from %s at step %d: %s are lost and trained again",
                last, damage, prev, state["step"], lost,
            )  # fmt: skip
        return tensors, state, prev

    def _last_recorded_step(self) -> int | None:
        """The step a damaged `last` held: from its header if that survived, else the last step
        logged in metrics.jsonl."""
        try:
            return int(read_metadata(self.out / LAST)["step"])
        except (CheckpointError, KeyError, TypeError, ValueError):
            pass
        steps = [row.get("step") for row in _metrics_rows(self.out / "metrics.jsonl")]
        return max((s for s in steps if isinstance(s, int)), default=None)

    def _load_state(self) -> None:
        tensors, state, source = self._resumable_checkpoint()
        self.model.load_state_dict(_strip(tensors, "model"))
        self.objective.load_state_dict(_strip(tensors, "objective"))
        self.optimizer.load_state_dict(optimizer_state_from_tensors(tensors, state["optimizer"]))
        if self.aux_optimizer is not None:
            self.aux_optimizer.load_state_dict(
                optimizer_state_from_tensors(tensors, state["aux_optimizer"], prefix="aux_optim")
            )
        torch.set_rng_state(tensors["rng.torch"])
        saved_on = state.get("noise_device", "cpu")
        if saved_on != self.device.type:
            raise CheckpointError(
                f"--resume: {source} drew its noise on {saved_on} and this run is on "
                f"{self.device.type}; resume with --set train.device={saved_on}"
            )
        self.noise.set_state(tensors["rng.noise"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.step = int(state["step"])
        self._resumed_from = source.relative_to(self.out).as_posix()
        self.best_val = math.inf if state["best_val"] is None else float(state["best_val"])
        self.best_step = state.get("best_step")
        log.info("resumed %s at step %d", self.out, self.step)

    # ----------------------------------------------------------------------------- the loop
    def batch_indices(self, step: int) -> np.ndarray:
        """Training clip indices of global step `step` (a pure function of seed and step); with
        `data.pairs`, batch_size / 2 pairs, rows (2i, 2i + 1) partners (data/pairs.py)."""
        if self.pairs is not None:
            return self.pairs.batch(self.cfg.seed, step, self.batch_size // 2)
        epoch, within = divmod(step, self.steps_per_epoch)
        chosen = self._epoch_order(epoch)[within * self.batch_size : (within + 1) * self.batch_size]
        return self.data.train_indices[chosen]

    def _pair_plans(self) -> tuple[PairPlan | None, np.ndarray | None]:
        """With `data.pairs`: the training pair plan, and the fixed validation pairs (each
        validation note once, its partner from the notes it may see; notes without one are left
        out of validation). train.batch_size counts notes, so it must split into whole pairs on
        every rank."""
        section = self.recipe.data.pairs
        if section is None:
            return None, None
        if (self.cfg.batch_size % (2 * self.dist.world_size)) or self.batch_size % 2:
            raise RecipeError(
                f"train.batch_size={self.batch_size} does not split into whole pairs over "
                f"{self.dist.world_size} process(es); use a multiple of {2 * self.dist.world_size}"
            )
        train, valid = self.data.train, self.data.valid
        plan = plan_from_section(section, train.labels, self.data.train_indices, ids=train.ids)
        pool = self.data.valid_indices
        if valid is train:  # a held-out share of one cache: partners from all of its notes
            pool = np.union1d(self.data.train_indices, self.data.valid_indices)
        valid_plan = plan_from_section(
            section, valid.labels, pool, ids=valid.ids, anchors=self.data.valid_indices,
            unpaired="skip", what="validation", every_kind=False,
        )  # fmt: skip
        return plan, valid_plan.each_anchor_once(self.cfg.seed)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        """The shuffled clip order of `epoch`, drawn from (seed, epoch) once and kept for the
        epoch's steps (a 289k-clip randperm per step would cost milliseconds on the hot path)."""
        if getattr(self, "_order_epoch", None) != epoch:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            self._order = torch.randperm(self.data.train_indices.size, generator=gen).numpy()
            self._order_epoch = epoch
        return self._order

    def _window(self, batch: torch.Tensor, step: int | None = None) -> torch.Tensor:
        """The model's window of cached log-mels [batch, mels, frames]: a random window per clip
        at training steps (offsets a pure function of seed and step, drawn for the global batch
        and sharded like it, so resume stays exact at any world size), the `data.crop` window
        (start or center) for validation; the whole clip without a crop."""
        frames = self.model_cfg.frames
        spare = batch.shape[-1] - frames
        if spare <= 0:
            return batch
        if step is None:
            offset = 0 if self.recipe.data.crop == "start" else spare // 2
            return batch[..., offset : offset + frames]
        gen = torch.Generator().manual_seed(self.cfg.seed * 7_919 + 104_729 * step + 1)
        global_n = batch.shape[0] * self.dist.world_size
        offsets = torch.randint(0, spare + 1, (global_n,), generator=gen)
        offsets = torch.from_numpy(distributed.shard(offsets.numpy(), self.dist))
        return random_windows(batch, offsets.to(batch.device), frames)

    def _to_device(self, batch: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda" and batch.device.type == "cpu":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        else:  # already there when the cache lives on the device
            batch = batch.to(self.device)
        return self.model.normalizer.normalize(batch)

    def _autocast(self):
        return torch.autocast(
            self.device.type,
            dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )

    def _condition(self, cache: FeatureCache, indices: np.ndarray):
        """Index tensors of the batch's condition labels (None if the model is unconditional)."""
        if not self.model.is_conditional:
            return None
        values = {
            name: [cache.labels[name][i] for i in indices] for name in self.model_cfg.conditions
        }
        try:
            condition = self.model.condition_indices(values, len(indices))
        except ValueError as err:
            raise AudioVAEError(f"{cache.meta['source']}: {err}") from None
        return {k: v.to(self.device) for k, v in condition.items()}

    def _hidden_labels(self, fraction: float) -> np.ndarray:
        """Rows of the training cache whose labels objectives do not see (label_fraction < 1):
        a pure function of train.seed and each note's id, so resume and torchrun stay exact."""
        hidden = np.zeros(len(self.data.train), dtype=bool)
        if self.label_vocab and fraction < 1:
            rows = self.data.train_indices
            ids = [self.data.train.ids[int(i)] for i in rows]
            hidden[rows] = ~labelled_notes(ids, fraction, self.cfg.seed)
        return hidden

    def _labels(self, cache: FeatureCache, indices: np.ndarray, training: bool):
        """label -> LongTensor [batch] of class indices for objectives that ask for labels (-1
        where unknown to the vocabulary, or, at training steps, hidden by label_fraction);
        None for the others."""
        if not self.label_vocab:
            return None
        table = self._label_table.get(id(cache))
        if table is None:
            table = {n: label_codes(v, cache.labels[n]) for n, v in self.label_vocab.items()}
            self._label_table[id(cache)] = table
        indices = np.asarray(indices, dtype=np.int64)
        out = {}
        for name, codes in table.items():
            rows = codes[indices]
            if training and cache is self.data.train:
                rows = hide_labels(rows, self._label_hidden[indices], self.pairs is not None)
            out[name] = torch.from_numpy(rows).to(self.device)
        return out

    def _bound(self, cache: FeatureCache, indices: np.ndarray) -> torch.nn.Module:
        """The model with the batch's condition labels bound (the model itself if unconditional)."""
        return self.model.bind(self._condition(cache, indices))

    def train_step(self) -> dict[str, torch.Tensor]:
        """One optimiser step on (this rank's slice of) the batch of `self.step`; returns
        detached terms. A non-finite loss is recorded without a host sync and raised at the next
        `check_finite` (before anything is logged or saved)."""
        self.model.train()
        idx = distributed.shard(self.batch_indices(self.step), self.dist)
        x = self._to_device(self._window(self._batch(self.data.train, idx), self.step))
        condition = self._condition(self.data.train, idx)
        labels = self._labels(self.data.train, idx, training=True)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, self.total_steps, self.cfg)
        with batch_shard(self.dist.rank, self.dist.world_size):
            with self._autocast():
                out = self.step_module(x, self.step, self.noise, condition, labels)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            # the gradient norm after DDP's all-reduce is the same on every rank, so a NaN on
            # any rank (or a finite loss with non-finite gradients) is seen by all of them
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip or math.inf)
            bad = ~torch.isfinite(out.loss.detach()) | ~torch.isfinite(norm)
            self.optimizer.step()
            terms = {k: v.detach() for k, v in out.terms.items()}
            if self.aux_optimizer is not None:
                model = self.model.bind(condition)
                with self._autocast():
                    aux = self.objective.auxiliary_loss(
                        model, x, step=self.step, generator=self.noise
                    )
                self.aux_optimizer.zero_grad(set_to_none=True)
                aux.loss.backward()
                aux_params = self.objective.auxiliary_parameters()
                distributed.average_gradients(aux_params, self.dist)
                aux_norm = torch.nn.utils.clip_grad_norm_(aux_params, math.inf)
                bad = bad | ~torch.isfinite(aux.loss.detach()) | ~torch.isfinite(aux_norm)
                self.aux_optimizer.step()
                terms.update({f"aux_{k}": v.detach() for k, v in aux.terms.items()})
        first_bad = bad & (self._first_bad < 0)  # on the device: no host sync per step
        self._first_bad = torch.where(first_bad, self.step, self._first_bad)
        for k, v in terms.items():  # the terms of the first bad step, for the error message
            self._bad_terms[k] = torch.where(first_bad, v, self._bad_terms.get(k, 0.0))
        self.step += 1
        terms["kl_per_dim"] = out.kl_per_dim.detach() if out.kl_per_dim is not None else None
        return terms

    def check_finite(self) -> None:
        """Raise TrainingDiverged (on every rank) if any step since the start gave a non-finite
        loss; the last checkpoint, written before, is the last good one."""
        first = int(self._first_bad)
        if not distributed.any_rank(first >= 0, self.dist, self.device):
            return
        terms = ", ".join(f"{k} {float(v):.4g}" for k, v in self._bad_terms.items())
        kept = self.out / LAST
        where = f"the last good checkpoint is {kept}" if kept.is_file() else "no checkpoint yet"
        at = f"at step {first} ({terms})" if first >= 0 else "on another rank"
        raise TrainingDiverged(
            f"loss became non-finite {at}; {where}; lower train.lr or set train.grad_clip"
        )

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean objective terms over the validation clips (fixed noise seed: comparable runs)."""
        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 2)
        totals: dict[str, float] = {}
        kl_dims = torch.zeros(self.model_cfg.latent_dim)
        count = 0
        idx = self.data.valid_indices if self._valid_pairs is None else self._valid_pairs
        for start in range(0, idx.size, self.cfg.batch_size):
            chunk = idx[start : start + self.cfg.batch_size]
            x = self._to_device(self._window(self._batch(self.data.valid, chunk)))
            labels = self._labels(self.data.valid, chunk, training=False)
            with self._autocast():
                out = self.objective(
                    self._bound(self.data.valid, chunk), x, step=self.step, generator=gen,
                    **({"labels": labels} if labels is not None else {}),
                )  # fmt: skip
            for k, v in out.terms.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(chunk)
            if out.kl_per_dim is not None:
                kl_dims += out.kl_per_dim.float().cpu() * len(chunk)
            count += len(chunk)
        result = {k: v / count for k, v in totals.items()}
        result["active_dims"] = int((kl_dims / count >= COLLAPSED_KL).sum())
        self._last_val_kl = kl_dims / count
        return result

    def fit(self) -> dict[str, Any]:
        """Train until max_steps / epochs; returns a summary with the final and best losses.

        Under torchrun every rank runs this loop; rank 0 alone validates and writes the run
        folder, the others wait for it at the next gradient all-reduce. The run folder is
        locked for the whole of it (one writer per folder). Ctrl-C, SIGTERM and SIGUSR1 stop
        every rank at one step boundary with a checkpoint: Ctrl-C raises KeyboardInterrupt,
        the others TrainingStopped; `--resume` continues exactly."""
        self._take_run_folder()
        try:
            return self._fit()
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise AudioVAEError(
                f"disk full while writing {self.out} ({err.filename or 'logs'}); training "
                f"stopped at step {self.step}; {self._kept_checkpoint()}; free space and run "
                "again with --resume"
            ) from None
        finally:
            self._lock.release()

    def _take_run_folder(self) -> None:
        """Rank 0 takes the run folder's lock and checks that nobody trained into the folder
        since this process looked at it; every rank learns the outcome (one all-reduce)."""
        failure: AudioVAEError | None = None
        if self.dist.is_main:
            try:
                self._lock.acquire()
                self._check_unchanged()
            except AudioVAEError as err:
                self._lock.release()
                failure = err
        if distributed.any_rank(failure is not None, self.dist, self.device):
            raise failure or RunFolderBusy(f"{self.out}: rank 0 could not take the run folder")

    def _check_unchanged(self) -> None:
        """The folder's last checkpoint is still the state this trainer starts from (another
        `train` may have filled it between this one's checks and its lock)."""
        if getattr(self, "_resumed_from", None) == PREVIOUS:
            return  # `last` is damaged: nothing to compare with
        try:
            step = int(read_metadata(self.out / LAST)["step"])
        except (CheckpointError, KeyError, TypeError, ValueError):
            return
        if step == self.step:
            return
        if not self.resume:
            raise AudioVAEError(
                f"{self.out} already holds a run; "
                "pass --resume to continue it or choose another --out"
            )
        raise AudioVAEError(
            f"{self.out} moved on to step {step} while this process was starting from step "
            f"{self.step} (another process trained into it); run --resume again"
        )

    def _fit(self) -> dict[str, Any]:
        main = self.dist.is_main
        writer = history = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            if self.resume:
                _drop_rows_after(self.out / "metrics.jsonl", self.step)
            for stale in (self.out / "checkpoints").glob(".*.tmp-*"):  # a killed writer's
                stale.unlink(missing_ok=True)
            self.start_run_folder()
            writer = SummaryWriter(
                str(self.out / "logs"), purge_step=self.step if self.resume else None
            )
            history = open(self.out / "metrics.jsonl", "a")
        bar = tqdm(
            total=self.total_steps, initial=self.step, desc="train", unit="step",
            disable=not (self.cfg.progress and main), dynamic_ncols=True,
        )  # fmt: skip
        started = time.perf_counter()
        try:
            # under torchrun a Ctrl-C reaches a worker twice (terminal and launcher): no hard stop
            with StepBoundaryInterrupt(hard_second_ctrl_c=not self.dist.enabled) as interrupt:
                val = self._loop(writer, history, bar, interrupt)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
                history.close()
        seconds = time.perf_counter() - started
        if main:
            if not (self.out / LAST).is_file():
                self.save()
            if not (self.out / BEST).is_file():
                self._save_best()
            if not val:  # resumed a finished run: report its current validation terms
                val = self.validate()
            self._plot_reconstructions()
            self.write_label_dims()
        distributed.barrier(self.dist)
        return {
            "steps": self.step,
            "seconds": seconds,
            "valid": val,
            "best_val": self.best_val,
            "best_step": self.best_step,
            "run": str(self.out),
            "rank": self.dist.rank,
            "world_size": self.dist.world_size,
        }

    def _loop(self, writer, history, bar, interrupt: StepBoundaryInterrupt) -> dict[str, float]:
        """Steps until the budget is spent, logging, validating and checkpointing on schedule;
        a stop request (Ctrl-C, SIGTERM, SIGUSR1) is honoured between two steps, at the same
        step on every rank. Returns the last validation terms."""
        main = self.dist.is_main
        sums: dict[str, torch.Tensor] = {}
        n_sum = 0
        val: dict[str, float] = {}
        window_start, window_step = time.perf_counter(), self.step
        agree = distributed.StopAgreement(self.dist)
        while self.step < self.total_steps:
            code = agree(interrupt.code)
            if code:
                agree.finish()
                self._stop(code, interrupt.signal_name)
            terms = self.train_step()
            kl_dims = terms.pop("kl_per_dim")
            for k, v in terms.items():
                sums[k] = sums.get(k, 0) + v
            n_sum += 1
            bar.update(1)
            if self.step % self.cfg.log_every == 0 or self.step == self.total_steps:
                self.check_finite()
                means = self._mean_terms(sums, n_sum)
                if kl_dims is not None:
                    kl_dims = distributed.mean_over_ranks(kl_dims.float(), self.dist)
                sums, n_sum = {}, 0
                now = time.perf_counter()
                means["lr"] = self.optimizer.param_groups[0]["lr"]
                means["examples_per_s"] = (
                    (self.step - window_step) * self.batch_size / max(now - window_start, 1e-9)
                )
                window_start, window_step = now, self.step
                if self.device.type == "cuda":
                    means["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
                if main:
                    self._log(writer, history, "train", means, kl_dims)
                bar.set_postfix(
                    loss=f"{means['loss']:.4g}", recon=f"{means['recon']:.4g}",
                    kl=f"{means['kl']:.3g}",
                )  # fmt: skip
            if self._should_validate():
                self.check_finite()  # a collective: every rank, before rank 0 validates
                if main:
                    val = self.validate()
                    self._log(writer, history, "valid", val, self._last_val_kl)
                    self._log_images(writer)
                    score = selection_score(val, self.cfg.select_best_on)
                    if score < self.best_val:
                        self.best_val, self.best_step = score, self.step
                        self._save_best()
            if self.step % self.cfg.checkpoint_every == 0 or self.step == self.total_steps:
                self.check_finite()
                self._checkpoint()
        agree.finish()
        return val

    def _checkpoint(self) -> None:
        """Rank 0 writes `last`; if that fails every rank stops with its one-line error."""
        failure: CheckpointWriteError | None = None
        if self.dist.is_main:
            try:
                self.save()
            except CheckpointWriteError as err:
                failure = err
        if distributed.any_rank(failure is not None, self.dist, self.device):
            raise failure or CheckpointWriteError(
                f"rank 0 could not write {self.out / LAST}; training stopped at step {self.step}"
            )

    def _stop(self, code: int, signal_name: str | None) -> None:
        """Checkpoint at this step boundary (every rank is here), then stop: KeyboardInterrupt
        for Ctrl-C, TrainingStopped for SIGTERM / SIGUSR1."""
        self.check_finite()
        self._checkpoint()
        log.info("stopped at step %d (%s); wrote %s", self.step, signal_name, self.out / LAST)
        if code == STOP_INTERRUPT:
            raise KeyboardInterrupt
        raise TrainingStopped(
            f"stopped by {signal_name or 'a signal to another process of the job'} at step "
            f"{self.step} of {self.total_steps}; wrote {self.out / LAST}; "
            "continue with the same command and --resume"
        )

    def _mean_terms(self, sums: dict[str, torch.Tensor], n: int) -> dict[str, float]:
        """Per-step means of the summed terms, averaged over ranks (one all-reduce)."""
        if not sums:
            return {}
        keys = sorted(sums)
        stacked = torch.stack([torch.as_tensor(sums[k], dtype=torch.float32) for k in keys])
        stacked = distributed.mean_over_ranks(stacked.to(self.device), self.dist).cpu() / n
        return {k: float(v) for k, v in zip(keys, stacked, strict=True)}

    def _should_validate(self) -> bool:
        if self.step == self.total_steps:
            return True
        if self.cfg.validate_every:
            return self.step % self.cfg.validate_every == 0
        return self.step % self.steps_per_epoch == 0

    def _log(self, writer, history, split: str, values: dict[str, float], kl_dims) -> None:
        for k, v in values.items():
            writer.add_scalar(f"{split}/{k}", v, self.step)
        record: dict[str, Any] = {"split": split, "step": self.step, **values}
        if kl_dims is not None:
            kl = [round(float(v), 5) for v in kl_dims.float().cpu()]
            record["kl_per_dim"] = kl
            for i, v in enumerate(kl):
                writer.add_scalar(f"{split}_kl_per_dim/{i:02d}", v, self.step)
        history.write(json.dumps(record) + "\n")
        history.flush()

    def _example_indices(self, n: int) -> np.ndarray:
        """n validation clips spread evenly over the set (not n neighbours of one kind)."""
        idx = self.data.valid_indices
        return idx[np.linspace(0, idx.size - 1, min(n, idx.size)).round().astype(int)]

    @torch.no_grad()
    def _reconstruct_valid(self, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, reconstructions from the posterior mean) of the first n validation clips,
        as log-mels."""
        self.model.eval()
        idx = self._example_indices(n)
        x = self._to_device(self._window(self.data.valid.batch(idx)))
        model = self._bound(self.data.valid, idx)
        mu, _ = model.encode(x)
        x_hat = model.decode(mu)
        norm = self.model.normalizer
        return norm.denormalize(x).float().cpu(), norm.denormalize(x_hat).float().cpu()

    def _log_images(self, writer) -> None:
        x, x_hat = self._reconstruct_valid()
        pair = torch.cat([torch.cat(list(x), dim=1), torch.cat(list(x_hat), dim=1)], dim=0)
        pair = (pair - pair.min()) / (pair.max() - pair.min() + 1e-8)
        writer.add_image(
            "valid/input_top_reconstruction_bottom", pair.flip(0), self.step, dataformats="HW"
        )

    @torch.no_grad()
    def write_label_dims(self, max_clips: int = 4096) -> Path:
        """label_dims.json: per-dimension eta^2 of each factor-like training label under the last
        and best weights (up to max_clips seeded training notes), which `swap` reads to take a
        label's dimensions without the training cache."""
        cache, rows = self.data.train, self.data.train_indices
        pick = np.random.default_rng(self.cfg.seed).permutation(rows.size)[:max_clips]
        rows = rows[np.sort(pick)]

        def encode(idx: np.ndarray) -> torch.Tensor:
            x = self._to_device(self._window(cache.batch(idx)))
            return self._bound(cache, idx).encode(x)[0]

        self.model.eval()
        current = {k: v.clone() for k, v in self.model.state_dict().items()}
        entries = {}
        try:
            for name, rel in (("last", LAST), ("best", BEST)):
                if (self.out / rel).is_file():
                    tensors, meta = load_checkpoint(self.out / rel, prefix="model")
                    self.model.load_state_dict(tensors)
                    eta = label_eta_squared(encode, cache.labels, rows)
                    entries[name] = {"step": int(meta["step"]), "eta_squared": eta}
        finally:
            self.model.load_state_dict(current)
        return write_label_dims(self.out, entries, int(rows.size))

    def _plot_reconstructions(self) -> None:
        from audiovae.plots import plot_reconstructions

        x, x_hat = self._reconstruct_valid()
        ids = [self.data.valid.ids[i] for i in self._example_indices(len(x))]
        plot_reconstructions(
            x, x_hat, self.out / "reconstructions.png", titles=ids, frontend=self.frontend
        )


def _resident_copy(features: np.ndarray, device: torch.device, chunk: int = 4096) -> torch.Tensor:
    """The float16 cache as one device tensor, copied in chunks (no second full copy in RAM)."""
    out = torch.empty(features.shape, dtype=torch.float16, device=device)
    for start in range(0, features.shape[0], chunk):
        block = np.array(features[start : start + chunk], dtype=np.float16)
        out[start : start + len(block)].copy_(torch.from_numpy(block))
    return out


def selection_score(valid: dict[str, float], select_on: str) -> float:
    """What best.safetensors minimises: the objective's own validation `loss`, or the negative
    ELBO `recon + kl`, which annealed targets (capacity_vae's C(t)) and discriminator terms
    (factor_vae, aae) do not move from one validation to the next."""
    if select_on == "elbo":
        return valid["recon"] + valid["kl"]
    return valid["loss"]


def random_windows(batch: torch.Tensor, offsets: torch.Tensor, frames: int) -> torch.Tensor:
    """batch[i, :, offsets[i] : offsets[i] + frames] for every i, in one gather."""
    index = (offsets[:, None] + torch.arange(frames, device=offsets.device)[None, :])[:, None, :]
    return batch.gather(2, index.expand(batch.shape[0], batch.shape[1], frames))


def _metrics_rows(path: Path) -> list[dict[str, Any]]:
    """The readable rows of a metrics.jsonl (a line cut short by a crash is skipped)."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _drop_rows_after(path: Path, step: int) -> None:
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


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    p = prefix + "."
    return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}


def train(recipe: Recipe, out_dir: str | Path, *, resume: bool = False) -> dict[str, Any]:
    """Train `recipe` into `out_dir` (the Python entry point behind `audiovae train`; under
    torchrun, every process calls it and rank 0 writes the run)."""
    ctx = distributed.context_from_env()
    try:
        return Trainer(recipe, out_dir, resume=resume).fit()
    finally:
        distributed.shutdown(ctx)


__all__ = ["Trainer", "train", "prepare_data", "frontend_from_recipe", "lr_at"]

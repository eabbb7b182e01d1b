"""The training loop: feature cache in, checkpoints, logs and a reconstruction plot out.

Steps are counted globally; the data order of epoch e is a permutation drawn from (seed, e), the
reparameterisation noise comes from a generator whose state is checkpointed, and the learning rate
is a pure function of the step. So a run resumed from any checkpoint continues exactly as if it had
never stopped. The loop is written around one global batch per step; under torchrun each rank
trains on its contiguous slice of it with DistributedDataParallel (see train/distributed.py), and
noise and crop offsets are drawn for the global batch, so N processes follow the same trajectory
as one process with the same global batch, and a checkpoint resumes at any world size.

`Trainer` is the loop only; its parts live beside it: build.py (objects from the recipe),
run_folder.py (the folder, its lock, manifest and split), state.py (checkpoint state), batching.py
(which clips each step sees), labels.py (labels for objectives), run_log.py (TensorBoard and
metrics.jsonl), schedule.py (learning rate, best-checkpoint score).
"""

from __future__ import annotations

import errno
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from audiovae.checkpoints import load_checkpoint
from audiovae.data.split import RunSplit
from audiovae.errors import (
    AudioVAEError,
    CheckpointWriteError,
    RunFolderBusy,
    TrainingDiverged,
    TrainingStopped,
)
from audiovae.features.cache import FeatureCache
from audiovae.features.normalization import mel_band_statistics
from audiovae.models.conv import ConvVAE
from audiovae.models.noise import batch_shard
from audiovae.objectives.kl import COLLAPSED_KL
from audiovae.recipe import Recipe, frontend_from_recipe
from audiovae.run_manifest import RunManifest
from audiovae.train import distributed
from audiovae.train.batching import Batches, example_indices, pair_plans
from audiovae.train.build import build_objective, model_config_from_recipe, prepare_data
from audiovae.train.checkpoint import save_checkpoint
from audiovae.train.label_dims import label_eta_squared, write_label_dims
from audiovae.train.labels import BatchLabels
from audiovae.train.run_folder import (
    BEST,
    LAST,
    METRICS,
    PREVIOUS,
    RunFolder,
    drop_rows_after,
    run_manifest,
    run_split,
)
from audiovae.train.run_log import RunLog, plot_reconstruction_figure
from audiovae.train.runtime import (
    STOP_INTERRUPT,
    StepBoundaryInterrupt,
    autocast_dtype,
    resolve_device,
    set_threads,
)
from audiovae.train.schedule import lr_at, selection_score
from audiovae.train.state import (
    Progress,
    TrainingState,
    resumable_checkpoint,
    state_from_checkpoint,
    state_to_checkpoint,
    weight_tensors,
)
from audiovae.train.step import ObjectiveStep

log = logging.getLogger(__name__)


class Trainer:
    """Trains one recipe into one run folder (`fit`), resuming from its last checkpoint if asked."""

    def __init__(self, recipe: Recipe, out_dir: str | Path, *, resume: bool = False) -> None:
        self.recipe = recipe
        self.out = Path(out_dir)
        self.resume = resume
        self.cfg = recipe.train
        self.dist = distributed.context_from_env()
        self.folder = RunFolder(self.out)
        self.folder.check_before_start(recipe, resume, self.dist.is_main)
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
        objective, self.label_vocab = build_objective(recipe, self.model_cfg, self.data)
        self.objective = objective.to(self.device)
        params = list(self.model.parameters()) + self.objective.main_parameters()
        self.aux_optimizer = self.objective.make_auxiliary_optimizer()
        self.optimizer = torch.optim.AdamW(
            params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )
        self.noise = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 1)
        n_train = int(self.data.train_indices.size)
        self.batch_size = min(self.cfg.batch_size, n_train)
        distributed.check_divisible(self.batch_size, self.dist)
        self.pairs, self.valid_pairs = pair_plans(
            recipe.data.pairs, self.data, seed=self.cfg.seed, batch_size=self.batch_size,
            recipe_batch_size=self.cfg.batch_size, dist=self.dist,
        )  # fmt: skip
        self.labels = BatchLabels(
            self.label_vocab, self.data.train, self.data.train_indices,
            label_fraction=getattr(recipe.objective_config(), "label_fraction", 1.0),
            seed=self.cfg.seed, device=self.device, paired=self.pairs is not None,
        )  # fmt: skip
        self.step_module = self._wrap(ObjectiveStep(self.model, self.objective))
        self.batches = Batches(
            self.data, self.cfg, batch_size=self.batch_size, frames=self.model_cfg.frames,
            crop=recipe.data.crop, dist=self.dist, device=self.device, pairs=self.pairs,
        )  # fmt: skip
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        self._bad_terms: dict[str, torch.Tensor] = {}
        self.steps_per_epoch = self.batches.steps_per_epoch
        total = self.cfg.epochs * self.steps_per_epoch
        self.total_steps = min(total, self.cfg.max_steps) if self.cfg.max_steps else total
        self.step = 0
        self.best_val = math.inf
        self.best_step: int | None = None
        self._resumed_from: str | None = None  # the checkpoint (relative path) resumed from
        self._last_val_kl: torch.Tensor | None = None  # KL per dimension at the last validation
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

    def _to_device(self, batch: torch.Tensor) -> torch.Tensor:
        """A batch of log-mels on the device, normalised as the model sees them."""
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

    def _bound(self, cache: FeatureCache, indices: np.ndarray) -> torch.nn.Module:
        """The model with the batch's condition labels bound (the model itself if unconditional)."""
        return self.model.bind(self._condition(cache, indices))

    # ----------------------------------------------------------------- run folder and state
    def batch_indices(self, step: int) -> np.ndarray:
        """Training clip indices of global step `step` (see Batches.indices)."""
        return self.batches.indices(step)

    def split(self) -> RunSplit:
        """The clip ids this run trains and validates on (recorded in RUN/split.json)."""
        return run_split(self.data)

    def manifest(self) -> RunManifest:
        """What the run folder and every checkpoint record about this model."""
        return run_manifest(
            self.recipe, self.model_cfg, self.frontend, self.data,
            pairs=None if self.pairs is None else self.pairs.summary(),
            label_vocab=self.label_vocab, device=self.device,
            world_size=self.dist.world_size, precision=self.amp_dtype,
        )  # fmt: skip

    def start_run_folder(self) -> None:
        """Create the run folder with the resolved recipe, the manifest and the split."""
        self.folder.start(self.recipe, self.manifest(), self.split())

    def _training_state(self) -> TrainingState:
        return TrainingState(self.model, self.objective, self.optimizer, self.aux_optimizer,
                             self.noise, self.device)  # fmt: skip

    def save(self) -> Path:
        """Write the full training state to checkpoints/last.safetensors (atomically), keeping
        the one it replaces as previous.safetensors. A failed write (disk full, permission)
        leaves both untouched and raises CheckpointWriteError saying what is kept."""
        progress = Progress(self.step, self.best_val, self.best_step)
        tensors, state = state_to_checkpoint(self._training_state(), progress)
        state |= {"recipe": self.recipe.to_dict(), "manifest": self.manifest().to_dict()}
        # a damaged `last` (this run resumed from `previous`) is replaced, never kept
        damaged = self._resumed_from == PREVIOUS
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
                f"{err}; training stopped at step {self.step}; {self.folder.kept_checkpoint()}; "
                "free space (or fix the permission) and run again with --resume"
            ) from None

    def _save_best(self) -> None:
        kl = self._last_val_kl
        meta = {
            "step": self.step,
            "best_val": self.best_val,
            "valid_kl_per_dim": None if kl is None else [float(v) for v in kl],
            "recipe": self.recipe.to_dict(),
            "manifest": self.manifest().to_dict(),
        }
        save_checkpoint(self.out / BEST, weight_tensors(self.model, self.objective), meta)

    def _load_state(self) -> None:
        tensors, state, source = resumable_checkpoint(self.folder, warn=self.dist.is_main)
        progress = state_from_checkpoint(self._training_state(), tensors, state, source)
        self.step = progress.step
        self._resumed_from = source.relative_to(self.out).as_posix()
        self.best_val, self.best_step = progress.best_val, progress.best_step
        log.info("resumed %s at step %d", self.out, self.step)

    # ----------------------------------------------------------------------------- the loop
    def train_step(self) -> dict[str, torch.Tensor]:
        """One optimiser step on (this rank's slice of) the batch of `self.step`; returns
        detached terms. A non-finite loss is recorded without a host sync and raised at the next
        `check_finite` (before anything is logged or saved)."""
        self.model.train()
        idx = distributed.shard(self.batches.indices(self.step), self.dist)
        batch = self.batches.gather(self.data.train, idx)
        x = self._to_device(self.batches.window(batch, self.step))
        condition = self._condition(self.data.train, idx)
        labels = self.labels(self.data.train, idx, training=True)
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
        idx = self.data.valid_indices if self.valid_pairs is None else self.valid_pairs
        for start in range(0, idx.size, self.cfg.batch_size):
            chunk = idx[start : start + self.cfg.batch_size]
            x = self._to_device(self.batches.window(self.batches.gather(self.data.valid, chunk)))
            labels = self.labels(self.data.valid, chunk, training=False)
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
                f"stopped at step {self.step}; {self.folder.kept_checkpoint()}; free space and run "
                "again with --resume"
            ) from None
        finally:
            self.folder.lock.release()

    def _take_run_folder(self) -> None:
        """Rank 0 takes the run folder's lock and checks that nobody trained into the folder
        since this process looked at it; every rank learns the outcome (one all-reduce)."""
        failure: AudioVAEError | None = None
        if self.dist.is_main:
            try:
                self.folder.lock.acquire()
                self.folder.check_unchanged(self.step, self.resume, self._resumed_from)
            except AudioVAEError as err:
                self.folder.lock.release()
                failure = err
        if distributed.any_rank(failure is not None, self.dist, self.device):
            raise failure or RunFolderBusy(f"{self.out}: rank 0 could not take the run folder")

    def _fit(self) -> dict[str, Any]:
        main = self.dist.is_main
        run_log = None
        if main:
            if self.resume:
                drop_rows_after(self.out / METRICS, self.step)
            self.folder.remove_stale_temporaries()
            self.start_run_folder()
            run_log = RunLog(self.out, purge_step=self.step if self.resume else None)
        bar = tqdm(
            total=self.total_steps, initial=self.step, desc="train", unit="step",
            disable=not (self.cfg.progress and main), dynamic_ncols=True,
        )  # fmt: skip
        started = time.perf_counter()
        try:
            # under torchrun a Ctrl-C reaches a worker twice (terminal and launcher): no hard stop
            with StepBoundaryInterrupt(hard_second_ctrl_c=not self.dist.enabled) as interrupt:
                val = self._loop(run_log, bar, interrupt)
        finally:
            bar.close()
            if run_log is not None:
                run_log.close()
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

    def _loop(
        self, run_log: RunLog | None, bar, interrupt: StepBoundaryInterrupt
    ) -> dict[str, float]:
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
                    run_log.write("train", self.step, means, kl_dims)
                bar.set_postfix(
                    loss=f"{means['loss']:.4g}", recon=f"{means['recon']:.4g}",
                    kl=f"{means['kl']:.3g}",
                )  # fmt: skip
            if self._should_validate():
                self.check_finite()  # a collective: every rank, before rank 0 validates
                if main:
                    val = self.validate()
                    run_log.write("valid", self.step, val, self._last_val_kl)
                    run_log.reconstructions(self.step, *self._reconstruct_valid())
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

    @torch.no_grad()
    def _reconstruct_valid(self, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, reconstructions from the posterior mean) of n validation clips spread over
        the set, as log-mels."""
        self.model.eval()
        idx = example_indices(self.data.valid_indices, n)
        x = self._to_device(self.batches.window(self.data.valid.batch(idx)))
        model = self._bound(self.data.valid, idx)
        mu, _ = model.encode(x)
        x_hat = model.decode(mu)
        norm = self.model.normalizer
        return norm.denormalize(x).float().cpu(), norm.denormalize(x_hat).float().cpu()

    @torch.no_grad()
    def write_label_dims(self, max_clips: int = 4096) -> Path:
        """label_dims.json: per-dimension eta^2 of each factor-like training label under the last
        and best weights (up to max_clips seeded training notes), which `swap` reads to take a
        label's dimensions without the training cache."""
        cache, rows = self.data.train, self.data.train_indices
        pick = np.random.default_rng(self.cfg.seed).permutation(rows.size)[:max_clips]
        rows = rows[np.sort(pick)]

        def encode(idx: np.ndarray) -> torch.Tensor:
            x = self._to_device(self.batches.window(cache.batch(idx)))
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
        x, x_hat = self._reconstruct_valid()
        ids = [self.data.valid.ids[i] for i in example_indices(self.data.valid_indices, len(x))]
        plot_reconstruction_figure(self.out, x, x_hat, ids, self.frontend)


def train(recipe: Recipe, out_dir: str | Path, *, resume: bool = False) -> dict[str, Any]:
    """Train `recipe` into `out_dir` (the Python entry point behind `audiovae train`; under
    torchrun, every process calls it and rank 0 writes the run)."""
    ctx = distributed.context_from_env()
    try:
        return Trainer(recipe, out_dir, resume=resume).fit()
    finally:
        distributed.shutdown(ctx)


__all__ = ["Trainer", "train"]

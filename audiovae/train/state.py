"""A training run's state as checkpoint tensors and JSON, and back: weights, optimiser moments,
random generators and counters, so that a resumed run continues exactly; and the choice of the
checkpoint to resume from (`last`, or `previous` when `last` is damaged)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audiovae.checkpoints import load_checkpoint
from audiovae.errors import CheckpointError
from audiovae.train.checkpoint import optimizer_state_from_tensors, optimizer_state_to_tensors
from audiovae.train.run_folder import LAST, PREVIOUS, RunFolder

log = logging.getLogger(__name__)


@dataclass
class TrainingState:
    """The objects whose state a checkpoint holds (the trainer's own, not copies)."""

    model: torch.nn.Module
    objective: torch.nn.Module
    optimizer: torch.optim.Optimizer
    aux_optimizer: torch.optim.Optimizer | None
    noise: torch.Generator  # the reparameterisation noise
    device: torch.device


@dataclass
class Progress:
    """Where the run is: its step and its best validation score so far."""

    step: int = 0
    best_val: float = math.inf
    best_step: int | None = None


def weight_tensors(model: torch.nn.Module, objective: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's and the objective's parameters and buffers, under `model.` and `objective.`."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"objective.{k}": v for k, v in objective.state_dict().items()})
    return tensors


def state_to_checkpoint(
    s: TrainingState, progress: Progress
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, JSON-able state) of a resumable checkpoint; the caller adds recipe and manifest."""
    tensors = weight_tensors(s.model, s.objective)
    optim_tensors, optim_info = optimizer_state_to_tensors(s.optimizer.state_dict())
    tensors.update(optim_tensors)
    aux_info = None
    if s.aux_optimizer is not None:
        aux_tensors, aux_info = optimizer_state_to_tensors(
            s.aux_optimizer.state_dict(), prefix="aux_optim"
        )
        tensors.update(aux_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.noise"] = s.noise.get_state()
    if s.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(s.device)
    state = {
        "step": progress.step,
        "best_val": None if math.isinf(progress.best_val) else progress.best_val,
        "best_step": progress.best_step,
        "noise_device": s.device.type,
        "optimizer": optim_info,
        "aux_optimizer": aux_info,
    }
    return tensors, state


def state_from_checkpoint(
    s: TrainingState, tensors: dict[str, torch.Tensor], state: dict[str, Any], source: Path
) -> Progress:
    """Load a resumable checkpoint's tensors and state into `s` (in place); returns the progress
    it recorded. CheckpointError if its noise was drawn on another kind of device."""
    s.model.load_state_dict(strip_prefix(tensors, "model"))
    s.objective.load_state_dict(strip_prefix(tensors, "objective"))
    s.optimizer.load_state_dict(optimizer_state_from_tensors(tensors, state["optimizer"]))
    if s.aux_optimizer is not None:
        s.aux_optimizer.load_state_dict(
            optimizer_state_from_tensors(tensors, state["aux_optimizer"], prefix="aux_optim")
        )
    torch.set_rng_state(tensors["rng.torch"])
    saved_on = state.get("noise_device", "cpu")
    if saved_on != s.device.type:
        raise CheckpointError(
            f"--resume: {source} drew its noise on {saved_on} and this run is on "
            f"{s.device.type}; resume with --set train.device={saved_on}"
        )
    s.noise.set_state(tensors["rng.noise"])
    if "rng.cuda" in tensors and s.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], s.device)
    best_val = math.inf if state["best_val"] is None else float(state["best_val"])
    return Progress(int(state["step"]), best_val, state.get("best_step"))


def resumable_checkpoint(
    folder: RunFolder, warn: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any], Path]:
    """The training state to resume from: `last`, or, when `last` is damaged (unreadable,
    truncated, a checksum that does not match) or missing, `previous`, with a warning (`warn`)
    that names both and the steps that will be trained again."""
    last, prev = folder.path / LAST, folder.path / PREVIOUS
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
    lost_to = folder.last_recorded_step()
    lost = f"steps {state['step']}-{lost_to}" if lost_to else f"the steps after {state['step']}"
    if warn:
        log.warning(
            "%s is damaged (%s); resuming from %s at step %d: %s are lost and trained again",
            last, damage, prev, state["step"], lost,
        )  # fmt: skip
    return tensors, state, prev


def strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix.`, with the prefix removed."""
    p = prefix + "."
    return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}

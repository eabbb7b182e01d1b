"""Objects a recipe describes, built for one run: the training data (caches and split, built
once per node under torchrun), the model's architecture, and the objective with its label
vocabularies."""

from __future__ import annotations

from audiovae.errors import AudioVAEError
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.features.training_data import TrainingData, build_training_data
from audiovae.models.conv import ConvVAEConfig, condition_vocabulary
from audiovae.objectives import Objective, get_objective
from audiovae.recipe import Recipe, frontend_from_recipe
from audiovae.train import distributed
from audiovae.train.labels import label_vocabularies

__all__ = [
    "TrainingData",
    "build_objective",
    "condition_labels",
    "frontend_from_recipe",
    "model_config_from_recipe",
    "prepare_data",
]


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
        return build_training_data(recipe, frontend, progress and ctx.is_main)
    finally:
        if ctx.local_rank == 0:
            distributed.barrier(ctx)


def build_objective(
    recipe: Recipe, model_cfg: ConvVAEConfig, data: TrainingData
) -> tuple[Objective, dict[str, list[str]]]:
    """The recipe's objective for this model and data, and the vocabulary of each label it asks
    for (built from the training notes; empty when it asks for none)."""
    objective_cfg = recipe.objective_config()
    objective_cls = get_objective(objective_cfg.name)
    label_vocab = label_vocabularies(
        objective_cls.labels_needed(objective_cfg),
        data.train.labels,
        data.train_indices,
        key=f"objective ({objective_cfg.name})",
    )
    extra = {"label_vocab": label_vocab, "subspaces": dict(model_cfg.subspaces)}
    objective = objective_cls(
        objective_cfg,
        n_mels=model_cfg.n_mels,
        dataset_size=int(data.train_indices.size),
        latent_dim=model_cfg.latent_dim,
        **(extra if label_vocab else {}),
    )
    return objective, label_vocab

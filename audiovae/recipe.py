"""Recipe schema and loading: YAML sections data / features / model / objective / train.

The schema lives outside `train/` because the inference side reads recipes too (`resynth
--recipe`, the report's held-out notes); `audiovae.train.recipe` re-exports it.

Every section is a pydantic model that rejects unknown keys; every error becomes one line naming the
recipe file, the key and what was expected. `--set a.b=value` overrides are applied before
validation (values are parsed as YAML, so `--set train.lr=3e-4` is a float).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from audiovae.errors import RecipeError
from audiovae.objectives import available_objectives, get_objective

if TYPE_CHECKING:
    from audiovae.features.logmel import LogMelFrontEnd


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyntheticSection(Section):
    """Settings of the synthetic note generator (the embedded default data set)."""

    pitches: list[int] = Field(default_factory=lambda: list(range(48, 72)))
    families: list[str] = Field(
        default_factory=lambda: [
            "guitar",
            "string",
            "reed",
            "brass",
            "flute",
            "mallet",
            "organ",
            "vocal",
        ]
    )
    instruments_per_family: int = Field(3, ge=1)
    velocities: list[int] = Field(default_factory=lambda: [25, 50, 75, 100])
    vibrato_depths: list[float] = Field(default_factory=lambda: [0.0, 0.4])
    seed: int = 0


class FiltersSection(Section):
    """NSynth note filters (empty lists mean: no restriction)."""

    families: list[str] = Field(default_factory=list)
    exclude_families: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    instruments: list[str] = Field(default_factory=list)
    exclude_instruments: list[str] = Field(default_factory=list)
    pitch_min: int | None = None
    pitch_max: int | None = None
    velocities: list[int] = Field(default_factory=list)


def _share_value(value: Any) -> Any:
    """A pair kind's `share`: a non-empty list of label names, or the word `random`."""
    if value == "random":
        return value
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a non-empty list of label names or 'random'")
    if len(set(value)) != len(value):
        raise ValueError("a label is named twice")
    return value


class PairKindSection(Section):
    """One weighted kind of pair in `data.pairs.kinds`."""

    share: list[str] | Literal["random"]
    weight: float = Field(1.0, gt=0)

    _share = field_validator("share", mode="before")(_share_value)


class PairsSection(Section):
    """`data.pairs`: draw each training example with a partner that shares exactly the `share`
    labels and differs on every other label of `factors` (see audiovae/data/pairs.py)."""

    share: list[str] | Literal["random"] | None = None
    kinds: list[PairKindSection] | None = Field(None, min_length=1)
    factors: list[str] = Field(
        default_factory=lambda: ["instrument", "pitch", "velocity"], min_length=2
    )
    unpaired: Literal["error", "skip"] = "error"

    @field_validator("share", mode="before")
    @classmethod
    def _share_shape(cls, value: Any) -> Any:
        return None if value is None else _share_value(value)

    @model_validator(mode="after")
    def _kinds_fit_factors(self) -> PairsSection:
        if (self.share is None) == (self.kinds is None):
            raise ValueError(
                "give either share (e.g. [instrument, velocity] or random) or kinds "
                "(a list of {share, weight}), not both or neither"
            )
        if len(set(self.factors)) != len(self.factors):
            raise ValueError(f"factors names a label twice: {self.factors}")
        shares = [self.share] if self.kinds is None else [k.share for k in self.kinds]
        for share in shares:
            if share == "random":
                continue
            outside = [label for label in share if label not in self.factors]
            if outside:
                raise ValueError(
                    f"share label {outside[0]!r} is not in data.pairs.factors "
                    f"{self.factors}; add it there"
                )
            if len(share) == len(self.factors):
                raise ValueError(f"share {share} leaves no label of data.pairs.factors to differ")
        return self


class DataSection(Section):
    kind: Literal["synthetic", "nsynth", "folder"] = "synthetic"
    train: str | None = None
    valid: str | None = None
    valid_fraction: float = Field(0.1, gt=0, lt=1)
    sample_rate: int = Field(16000, gt=0)
    clip_seconds: float = Field(1.008, gt=0)  # 64 frames at hop 256 and 16 kHz
    crop: Literal["start", "center"] = "start"
    train_crop_seconds: float | None = Field(None, gt=0)
    min_seconds: float | None = Field(None, ge=0)
    on_bad_file: Literal["error", "skip"] = "error"
    labels_csv: str | None = None
    filters: FiltersSection = Field(default_factory=FiltersSection)
    synthetic: SyntheticSection = Field(default_factory=SyntheticSection)
    pairs: PairsSection | None = None

    @model_validator(mode="after")
    def _needs_train(self) -> DataSection:
        if self.kind != "synthetic" and not self.train:
            raise ValueError(f"data.kind {self.kind!r} needs data.train (a folder)")
        return self

    @model_validator(mode="after")
    def _crop_fits(self) -> DataSection:
        if self.train_crop_seconds is not None and self.train_crop_seconds > self.clip_seconds:
            raise ValueError(
                f"data.train_crop_seconds ({self.train_crop_seconds}) must not exceed "
                f"data.clip_seconds ({self.clip_seconds})"
            )
        return self

    @property
    def clip_samples(self) -> int:
        """Samples per cached clip."""
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def window_samples(self) -> int:
        """Samples the model sees: the random training crop if set, else the whole clip."""
        seconds = self.train_crop_seconds or self.clip_seconds
        return int(round(seconds * self.sample_rate))


class FeaturesSection(Section):
    n_fft: int = Field(1024, gt=0)
    hop_length: int = Field(256, gt=0)
    n_mels: int = Field(64, gt=0)
    f_min: float = Field(0.0, ge=0)
    f_max: float | None = None
    mel_scale: Literal["slaney", "htk"] = "slaney"
    norm: Literal["slaney"] | None = "slaney"
    log_floor: float = Field(1e-5, gt=0)
    cache_dir: str | None = None


class ModelSection(Section):
    latent_dim: int = Field(16, gt=0)
    channels: list[int] = Field(default_factory=lambda: [32, 64, 128, 256], min_length=1)
    kernel_size: int = Field(4, ge=2)
    groups: int = Field(8, ge=1)
    activation: Literal["silu", "relu", "gelu", "leaky_relu"] = "silu"
    subspaces: dict[str, int] = Field(
        default_factory=dict, description="named blocks of z in order, name -> size"
    )

    @model_validator(mode="after")
    def _latent_dim_from_subspaces(self) -> ModelSection:
        """With sub-spaces, latent_dim is their total: derived when left out, checked if given."""
        if not self.subspaces:
            return self
        bad = {k: v for k, v in self.subspaces.items() if v <= 0 or not k.strip()}
        if bad:
            raise ValueError(f"subspaces: every block needs a name and a size >= 1, got {bad}")
        total = sum(self.subspaces.values())
        if "latent_dim" in self.model_fields_set and self.latent_dim != total:
            raise ValueError(
                f"latent_dim {self.latent_dim} != {total}, the sum of subspaces "
                f"{dict(self.subspaces)}; leave latent_dim out to derive it"
            )
        self.latent_dim = total
        return self


class TrainSection(Section):
    epochs: int = Field(100, gt=0)
    max_steps: int | None = Field(None, gt=0)
    batch_size: int = Field(64, gt=0)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    grad_clip: float | None = Field(1.0, gt=0)
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    checkpoint_every: int = Field(500, gt=0)
    log_every: int = Field(25, gt=0)
    validate_every: int | None = Field(None, gt=0)
    num_threads: int | None = Field(None, gt=0)
    compile: bool = False
    cache_on_device: Literal["auto", "yes", "no"] = "auto"
    select_best_on: Literal["elbo", "loss"] = "elbo"
    progress: bool = True


class Recipe(Section):
    data: DataSection = Field(default_factory=DataSection)
    features: FeaturesSection = Field(default_factory=FeaturesSection)
    model: ModelSection = Field(default_factory=ModelSection)
    objective: dict[str, Any] = Field(default_factory=lambda: {"name": "beta_vae"})
    train: TrainSection = Field(default_factory=TrainSection)

    def objective_config(self):
        """The objective section validated by the chosen objective's own schema."""
        return get_objective(self.objective.get("name", "beta_vae")).Config(**self.objective)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with every default filled in (what a run folder stores)."""
        out = self.model_dump(mode="json")
        out["objective"] = self.objective_config().model_dump(mode="json")
        return out


def apply_override(tree: dict[str, Any], assignment: str) -> None:
    """Apply one `section.key=value` (value parsed as YAML) to a nested dict, in place."""
    if "=" not in assignment:
        raise RecipeError(f"--set {assignment!r}: expected KEY=VALUE, e.g. train.max_steps=100")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise RecipeError(f"--set {assignment!r}: empty key part in {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise RecipeError(f"--set {assignment!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _describe(err: dict[str, Any], tree: dict[str, Any], source: str) -> str:
    loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
    key = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        model = _section_model(loc[:-1])
        valid = ", ".join(model.model_fields) if model else "?"
        return f"{source}: unknown key {key!r}; valid keys here: {valid}"
    got = err.get("input")
    got_text = "" if isinstance(got, dict) else f" (got {got!r})"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: {key}: {msg}{got_text}"


def _section_model(path: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] = Recipe
    for part in path:
        if part.isdigit():  # an item of a list of sections
            continue
        field = model.model_fields.get(part)
        found = _model_in(field.annotation) if field is not None else None
        if found is None:
            return None
        model = found
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model an annotation holds (`X`, `X | None`, `list[X] | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def recipe_from_dict(tree: dict[str, Any], source: str = "recipe") -> Recipe:
    """Validate a nested dict as a Recipe, raising a one-line RecipeError on the first problem."""
    if not isinstance(tree, dict):
        raise RecipeError(f"{source}: expected a mapping of sections, got {type(tree).__name__}")
    try:
        recipe = Recipe(**tree)
    except ValidationError as exc:
        raise RecipeError(_describe(exc.errors()[0], tree, source)) from None
    name = recipe.objective.get("name", "beta_vae")
    if name not in available_objectives():
        raise RecipeError(
            f"{source}: objective.name {name!r} is unknown; "
            f"available: {', '.join(available_objectives())}"
        )
    try:
        recipe.objective_config()
    except ValidationError as exc:
        err = exc.errors()[0]
        cls = get_objective(name).Config
        key = "objective." + ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            valid = ", ".join(cls.model_fields)
            raise RecipeError(
                f"{source}: unknown key {key!r} for {name}; valid keys: {valid}"
            ) from None
        msg = err["msg"].removeprefix("Value error, ")
        raise RecipeError(f"{source}: {key}: {msg} (got {err.get('input')!r})") from None
    _check_pairs_match_objective(recipe, name, source)
    try:
        get_objective(name).check_model(recipe.objective_config(), dict(recipe.model.subspaces))
    except ValueError as exc:
        raise RecipeError(f"{source}: objective ({name}): {exc}") from None
    return recipe


def _check_pairs_match_objective(recipe: Recipe, name: str, source: str) -> None:
    """A paired objective (rows 2i, 2i+1 partners) needs data.pairs, and data.pairs needs one."""
    paired = get_objective(name).is_paired(recipe.objective_config())
    if paired and recipe.data.pairs is None:
        raise RecipeError(
            f"{source}: objective.name {name!r} learns from pairs of notes and needs data.pairs "
            "(e.g. data.pairs.share: random)"
        )
    if not paired and recipe.data.pairs is not None:
        learners = [n for n in available_objectives() if get_objective(n).paired]
        raise RecipeError(
            f"{source}: data.pairs is set but objective.name {name!r} does not learn from pairs; "
            f"remove data.pairs or choose one of: {', '.join(learners)}"
        )


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a YAML recipe, apply `--set` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RecipeError(f"{path}: invalid YAML{where}: {problem}") from None
    if not isinstance(tree, dict):
        raise RecipeError(f"{path}: expected a mapping of sections, got {type(tree).__name__}")
    for assignment in overrides:
        apply_override(tree, assignment)
    return recipe_from_dict(tree, str(path))


def frontend_from_recipe(recipe: Recipe) -> LogMelFrontEnd:
    """The log-mel front end a recipe describes (its `features` section at `data.sample_rate`)."""
    from audiovae.features.logmel import LogMelFrontEnd

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

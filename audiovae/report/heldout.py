"""Which notes a report plays: the run's own validation clips (truly held out: the trainer's split,
as recorded in the run folder's split.json, or rebuilt as the trainer built it for older runs), or
clips of a data set the user names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiovae.audio.io import fit_length
from audiovae.data.clipset import ClipSet
from audiovae.errors import AudioVAEError, DataError


@dataclass
class Note:
    """One clip to play: its id, waveform [window samples] at the model's rate, and labels."""

    id: str
    wave: torch.Tensor
    labels: dict[str, Any]


@dataclass
class NoteChoice:
    """The notes chosen and, in words, where they come from (shown in the report)."""

    notes: list[Note]
    source: str
    held_out: bool


def spread(total: int, count: int) -> np.ndarray:
    """`count` indices spread evenly over range(total), first and last included, as the trainer
    picks the clips of reconstructions.png (not `count` neighbours of one kind)."""
    if total < 1 or count < 1:
        raise ValueError(f"need total >= 1 and count >= 1, got {total} and {count}")
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


def _note(clips: ClipSet, index: int, window: int, crop: str) -> Note:
    wave = fit_length(clips.load(index).float(), window, mode=crop)
    labels = {name: values[index] for name, values in clips.labels.items()}
    return Note(clips.ids[index], wave.contiguous(), labels)


def validation_notes(
    recipe, count: int, window: int, progress: bool = True, run_dir: str | Path | None = None
) -> NoteChoice:
    """`count` of the run's validation clips, spread over the set.

    The split is the trainer's own, so these notes never shaped the weights: the ids the run
    folder recorded when training began (RUN/split.json), read without touching the feature
    cache; for a run folder written before that record, `build_training_data` (the trainer's own
    split) rebuilds it
    (`data.valid` when given, else the seeded `valid_fraction` of the training clips), opening
    the run's feature cache or rebuilding it (with a progress bar) if it was deleted.
    """
    from audiovae.data.sources import training_clipsets
    from audiovae.data.split import read_split

    split = read_split(run_dir) if run_dir is not None else None
    try:
        if split is None:
            ids = _rebuilt_valid_ids(recipe, progress)
        train_clips, valid_clips = training_clipsets(recipe.data)
    except DataError as err:
        raise DataError(
            f"{err} (the run's data is needed for held-out notes; or pass --data)"
        ) from None
    if split is not None:
        ids = split.valid_ids
    clips = valid_clips if valid_clips is not None else train_clips
    position = {clip_id: i for i, clip_id in enumerate(clips.ids)}
    chosen = [ids[i] for i in spread(len(ids), count)]
    missing = [i for i in chosen if i not in position]
    if missing:
        raise AudioVAEError(
            f"the run's split lists clips its data no longer has ({missing[0]}, ...); pass --data"
        )
    notes = [_note(clips, position[i], window, recipe.data.crop) for i in chosen]
    where = "its validation folder" if valid_clips is not None else "the seeded validation split"
    source = (
        f"{len(notes)} of the {len(ids)} validation notes the trainer held out ({where}); "
        "the model never trained on them"
    )
    return NoteChoice(notes, source, held_out=True)


def _rebuilt_valid_ids(recipe, progress: bool) -> list[str]:
    """The validation ids of a run folder without split.json, from the trainer's own split."""
    from audiovae.features.training_data import build_training_data
    from audiovae.recipe import frontend_from_recipe

    return build_training_data(recipe, frontend_from_recipe(recipe), progress=progress).valid_ids


def data_notes(data: str | Path, count: int, sample_rate: int, window: int) -> NoteChoice:
    """`count` clips of DATA (NSynth folder, audio folder, list of paths or one file), spread over
    it. Whether the model saw them in training is up to the user; the report says so."""
    from audiovae.data.sources import open_data

    src = open_data(data, sample_rate=sample_rate, clip_samples=window)
    if len(src.clips) == 0:
        raise DataError(f"{Path(data).name}: holds no audio clips")
    notes = [_note(src.clips, int(i), window, "start") for i in spread(len(src.clips), count)]
    source = (
        f"{len(notes)} of the {len(src.clips)} clips of {src.path.name} (given with --data; "
        "whether the model trained on them is not known to the report)"
    )
    return NoteChoice(notes, source, held_out=False)

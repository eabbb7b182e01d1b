"""ClipSet: what every data source hands to the feature cache: ids, labels and a clip loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ClipSet:
    """A list of clips with per-clip labels, loaded lazily.

    Attributes:
        name: short name of the source (used in cache folder names and messages).
        ids: one unique string per clip (NSynth `note_str`, a relative path, ...).
        labels: label name -> one value per clip (ints, floats, strings or lists of ints).
        load: index -> mono float32 waveform [samples] at the target rate and clip length;
            raises DataError for a bad clip (the cache builder skips or stops on it).
        fingerprint: JSON-able description that changes whenever the clips' content may change
            (file sizes and times, generator settings); part of the feature-cache key.
    """

    name: str
    ids: list[str]
    labels: dict[str, list[Any]]
    load: Callable[[int], torch.Tensor]
    fingerprint: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, values in self.labels.items():
            if len(values) != len(self.ids):
                raise ValueError(
                    f"label {key!r} has {len(values)} values for {len(self.ids)} clips"
                )

    def __len__(self) -> int:
        return len(self.ids)

"""Labels handed to objectives that ask for them: per-label vocabularies built from the training
notes, class indices per note, and the seeded subset of notes whose labels are used."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from audiovae.data.pairs import SAME_AS_PARTNER
from audiovae.errors import AudioVAEError
from audiovae.models.conv import _label_key, condition_vocabulary

if TYPE_CHECKING:
    from audiovae.features.cache import FeatureCache


def label_vocabularies(
    names: Sequence[str], labels: dict[str, list], rows: np.ndarray, key: str = "objective"
) -> dict[str, list[str]]:
    """label -> its sorted distinct values (as strings) over the training `rows`; a one-line
    AudioVAEError naming a label the data lacks or one that is not a single value per note."""
    vocab: dict[str, list[str]] = {}
    for name in names:
        if name not in labels:
            raise AudioVAEError(
                f"{key}: the data has no label {name!r}; it has: {', '.join(sorted(labels))}"
            )
        values = [labels[name][int(i)] for i in rows]
        if any(isinstance(v, (list, tuple, dict)) or v is None for v in values):
            raise AudioVAEError(f"{key}: label {name!r} is not one value per note")
        vocab[name] = condition_vocabulary(values)
        if len(vocab[name]) < 2:
            raise AudioVAEError(
                f"{key}: label {name!r} has a single value ({vocab[name][0]!r}) in the training "
                "notes; there is nothing to learn"
            )
    return vocab


def label_codes(vocab: list[str], values: Sequence) -> np.ndarray:
    """Class index of each value in `vocab` (int64), -1 for a value the vocabulary lacks."""
    index = {v: i for i, v in enumerate(vocab)}
    return np.array([index.get(_label_key(v), -1) for v in values], dtype=np.int64)


def _note_rank(seed: int, note_id: str) -> int:
    digest = hashlib.blake2b(f"{seed}\x00{note_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def labelled_notes(ids: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask over `ids`: the round(fraction * len(ids)) notes (at least one) whose hash of
    (seed, note id) is smallest keep their labels. Each note's rank depends only on the seed and
    its id, so the choice does not depend on batch order, world size or resume."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    n = len(ids)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    keep = max(1, int(round(fraction * n)))
    ranks = np.array([_note_rank(seed, str(i)) for i in ids], dtype=np.uint64)
    mask[np.argsort(ranks, kind="stable")[:keep]] = True
    return mask


def hide_labels(codes: np.ndarray, hidden: np.ndarray, paired: bool) -> np.ndarray:
    """Class indices [batch] with the `hidden` notes' set to -1 (unknown). With `paired` batches
    (rows 2i, 2i+1 partners) a hidden note whose partner has the same value gets SAME_AS_PARTNER
    (-2) instead: that the two share the label is what the pair itself says (data.pairs drew it
    so), while the value stays hidden."""
    out = codes.copy()
    if paired:
        partner = out.reshape(-1, 2)[:, ::-1].reshape(-1)
        same = (codes == partner) & (codes >= 0)
        out[hidden & same] = SAME_AS_PARTNER
        out[hidden & ~same] = -1
    else:
        out[hidden] = -1
    return out


def factor_labels(labels: dict[str, list], rows: np.ndarray, max_values: int = 1000) -> list[str]:
    """Labels that behave like factors on `rows`: one scalar per note, with 2 .. min(max_values,
    rows/2) distinct values (ids, file names and list-valued fields are left out)."""
    out = []
    for name, column in labels.items():
        values = [column[int(i)] for i in rows]
        if any(not isinstance(v, (str, int, float, bool)) for v in values):
            continue
        distinct = len({_label_key(v) for v in values})
        if 2 <= distinct <= min(max_values, len(values) // 2):
            out.append(name)
    return sorted(out)


class BatchLabels:
    """The labels objectives see for a batch: label -> LongTensor [batch] of class indices in
    `vocab` (-1 where unknown to it, or, at training steps, hidden by `label_fraction`; with
    `paired` batches a hidden label its partner shares is SAME_AS_PARTNER, see hide_labels)."""

    def __init__(
        self,
        vocab: dict[str, list[str]],
        train: FeatureCache,
        train_indices: np.ndarray,
        *,
        label_fraction: float,
        seed: int,
        device: torch.device,
        paired: bool = False,
    ) -> None:
        self.vocab = vocab
        self.paired = paired  # batches of partners (data.pairs): see hide_labels
        self.train = train
        self.device = device
        self._tables: dict[int, dict[str, np.ndarray]] = {}
        # rows of the training cache whose labels objectives do not see: a pure function of
        # the seed and each note's id, so resume and torchrun stay exact
        self.hidden = np.zeros(len(train), dtype=bool)
        if vocab and label_fraction < 1:
            ids = [train.ids[int(i)] for i in train_indices]
            self.hidden[train_indices] = ~labelled_notes(ids, label_fraction, seed)

    def __call__(
        self, cache: FeatureCache, indices: np.ndarray, training: bool
    ) -> dict[str, torch.Tensor] | None:
        """The batch's label tensors; None when the objective asks for no labels."""
        if not self.vocab:
            return None
        table = self._tables.get(id(cache))
        if table is None:
            table = {n: label_codes(v, cache.labels[n]) for n, v in self.vocab.items()}
            self._tables[id(cache)] = table
        indices = np.asarray(indices, dtype=np.int64)
        out = {}
        for name, codes in table.items():
            rows = codes[indices]
            if training and cache is self.train:
                rows = hide_labels(rows, self.hidden[indices], self.paired)
            out[name] = torch.from_numpy(rows).to(self.device)
        return out

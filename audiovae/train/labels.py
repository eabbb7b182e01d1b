"""Labels handed to objectives that ask for them: per-label vocabularies built from the training
notes, class indices per note, and the seeded subset of notes whose labels are used."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from audiovae.data.pairs import SAME_AS_PARTNER
from audiovae.errors import AudioVAEError
from audiovae.models.conv import _label_key, condition_vocabulary


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

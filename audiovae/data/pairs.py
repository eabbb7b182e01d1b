"""Pairs of notes that share exactly some labels, for weakly supervised objectives (Ada-GVAE).

A pair kind names the labels both notes share (`share`); every other label in `data.pairs.factors`
must differ between them (`differ`), as in Locatello et al. 2020 ("Weakly-Supervised
Disentanglement Without Compromises", ICML), whose pairs change k >= 1 factors to *new* values and
keep the rest. `share: random` is their setting: k drawn uniformly from 1..F-1, then which k of the
F factors change, uniformly.

Everything is precomputed once from the cache's labels with vectorised numpy (group ids by
`np.unique`, partner counts by inclusion-exclusion over the differing labels), so building a plan
for NSynth's 289k notes takes well under a second. A step's pairs are then a pure function of
(seed, step): a kind per pair by weight, an anchor uniformly among the notes that have a partner of
that kind, a partner uniformly among those partners (rejection sampling within the anchor's group,
an exact enumeration for the rare anchors it misses). Pairs are drawn with replacement.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiovae.errors import DataError

log = logging.getLogger(__name__)
_PAIR_STREAM = 0x9A125  # keeps the pair draws apart from every other seeded stream
_REJECTION_ROUNDS = 16
MISSING = -1  # code of a missing label value (None, "", NaN)
# class index handed to objectives for a note whose label is hidden (label_fraction < 1) but whose
# partner in a pair has the same value: the pair is known to share the label, its value is not
SAME_AS_PARTNER = -2


@dataclass(frozen=True)
class PairKind:
    """One kind of pair: labels both notes share, labels on which they must differ, a weight."""

    share: tuple[str, ...]
    differ: tuple[str, ...]
    weight: float = 1.0

    def describe(self) -> str:
        """'shares (instrument, velocity) and differs in (pitch)', for messages."""
        return f"shares ({', '.join(self.share)}) and differs in ({', '.join(self.differ)})"


def expand_kinds(
    share: list[str] | str | None,
    kinds: list[tuple[list[str] | str, float]] | None,
    factors: list[str],
) -> list[PairKind]:
    """The weighted pair kinds a `data.pairs` section asks for.

    `share` is one kind (a list of labels, or "random"); `kinds` is a list of (share, weight).
    "random" becomes every non-empty proper subset S of `factors`, weighted so that the number of
    differing factors k = F - |S| is uniform on 1..F-1 and, given k, the subset is uniform.
    """
    items = [(share, 1.0)] if kinds is None else list(kinds)
    out: dict[tuple[str, ...], float] = {}
    for labels, weight in items:
        if labels == "random":
            n = len(factors)
            for k in range(1, n):
                subsets = list(itertools.combinations(range(n), n - k))
                for subset in subsets:
                    key = tuple(factors[i] for i in subset)
                    out[key] = out.get(key, 0.0) + weight / ((n - 1) * len(subsets))
        else:
            key = tuple(f for f in factors if f in set(labels))
            out[key] = out.get(key, 0.0) + weight
    total = sum(out.values())
    return [
        PairKind(key, tuple(f for f in factors if f not in key), w / total)
        for key, w in out.items()
    ]


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def factor_codes(labels: dict[str, list], factors: list[str], indices: np.ndarray) -> np.ndarray:
    """Integer codes [len(indices), len(factors)] of each factor's value for the notes `indices`
    (equal codes = equal values; MISSING where the value is missing). DataError naming a factor
    the data lacks."""
    codes = np.empty((len(indices), len(factors)), dtype=np.int64)
    for j, name in enumerate(factors):
        if name not in labels:
            have = ", ".join(sorted(labels)) or "none"
            raise DataError(f"data.pairs: the data has no label {name!r} (its labels: {have})")
        codes[:, j] = _column_codes([labels[name][i] for i in indices.tolist()])
    return codes


def _column_codes(values: list) -> np.ndarray:
    """Codes of one label column: numpy's unique for plain numbers and strings (fast at NSynth's
    size), a dictionary for anything else (None, lists)."""
    try:
        arr = np.asarray(values)
    except ValueError:  # ragged lists
        arr = np.empty(0, dtype=object)
    if arr.ndim == 1 and arr.dtype.kind in "iubfU":
        if arr.dtype.kind == "f":
            missing = np.isnan(arr)
        elif arr.dtype.kind == "U":
            missing = arr == ""
        else:
            missing = np.zeros(arr.size, dtype=bool)
        _, inverse = np.unique(arr[~missing], return_inverse=True)
        out = np.full(arr.size, MISSING, dtype=np.int64)
        out[~missing] = inverse.reshape(-1)
        return out
    lookup: dict[Any, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        if isinstance(value, list):
            value = tuple(value)
        out[row] = MISSING if _is_missing(value) else lookup.setdefault(value, len(lookup))
    return out


def group_ids(codes: np.ndarray) -> np.ndarray:
    """A group id per row: equal ids exactly where all columns are equal (dense, 0..G-1)."""
    if codes.shape[1] == 0:
        return np.zeros(codes.shape[0], dtype=np.int64)
    shifted = codes - codes.min(axis=0, initial=0)  # MISSING (-1) becomes a value like any other
    radix = shifted.max(axis=0, initial=0) + 1
    if float(np.prod(radix.astype(float))) < 2.0**62:  # one int64 key per row: a 1-D unique
        key = np.zeros(codes.shape[0], dtype=np.int64)
        for j in range(codes.shape[1]):
            key = key * radix[j] + shifted[:, j]
        _, inverse = np.unique(key, return_inverse=True)
    else:
        _, inverse = np.unique(codes, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def partner_counts(
    codes: np.ndarray, share: list[int], differ: list[int], memo: dict | None = None
) -> np.ndarray:
    """For each row, how many rows equal it on every `share` column and differ from it on every
    `differ` column (inclusion-exclusion over subsets of `differ` of the sizes of the groups
    that also agree there; the row itself cancels out when `differ` is non-empty). `memo`
    keeps group sizes by column set for reuse across kinds over the same rows."""
    memo = {} if memo is None else memo
    total = np.zeros(codes.shape[0], dtype=np.int64)
    for r in range(len(differ) + 1):
        for subset in itertools.combinations(differ, r):
            cols = tuple(sorted(share + list(subset)))
            if cols not in memo:
                ids = group_ids(codes[:, list(cols)])
                memo[cols] = np.bincount(ids)[ids]
            total += (-1) ** r * memo[cols]
    return total


@dataclass
class KindTable:
    """Precomputed look-ups of one pair kind over a pool of notes (positions into the pool)."""

    kind: PairKind
    differ_cols: np.ndarray  # columns of `codes` that must differ
    group: np.ndarray  # group id per pool position (-1: cannot take part)
    order: np.ndarray  # eligible positions sorted by group
    starts: np.ndarray  # first place of each group in `order`
    sizes: np.ndarray  # members per group
    has_partner: np.ndarray  # bool per pool position
    anchors: np.ndarray  # positions with a partner (and allowed as anchors)


def kind_table(
    codes: np.ndarray,
    factors: list[str],
    kind: PairKind,
    anchor_mask: np.ndarray | None = None,
    memo: dict | None = None,
) -> KindTable:
    """Build the look-ups of `kind` over the pool whose factor codes are `codes` (`memo`: group
    sizes shared by the kinds whose notes with every used label are the same rows)."""
    share = [factors.index(f) for f in kind.share]
    differ = [factors.index(f) for f in kind.differ]
    used = share + differ
    eligible = np.all(codes[:, used] != MISSING, axis=1)
    n = codes.shape[0]
    group = np.full(n, -1, dtype=np.int64)
    has_partner = np.zeros(n, dtype=bool)
    pos = np.flatnonzero(eligible)
    sub = codes[pos]
    group[pos] = group_ids(sub[:, share])
    rows_memo = None
    if memo is not None:  # group sizes depend on which rows take part
        rows_memo = memo.setdefault(tuple(sorted(used)) if pos.size < n else (), {})
    has_partner[pos] = partner_counts(sub, share, differ, rows_memo) > 0
    order = pos[np.argsort(group[pos], kind="stable")]
    sizes = np.bincount(group[pos], minlength=int(group.max()) + 1 if pos.size else 0)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    allowed = has_partner if anchor_mask is None else has_partner & anchor_mask
    return KindTable(
        kind, np.asarray(differ, dtype=np.int64), group, order, starts, sizes.astype(np.int64),
        has_partner, np.flatnonzero(allowed),
    )  # fmt: skip


def draw_partners(
    table: KindTable, codes: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A partner (pool position) for each anchor position, uniform among its partners of the
    table's kind; every anchor must have one."""
    partner = np.full(anchors.shape, -1, dtype=np.int64)
    if anchors.size == 0:
        return partner
    g = table.group[anchors]
    cols = table.differ_cols

    def differs(cand: np.ndarray, anchor: np.ndarray) -> np.ndarray:
        return np.all(codes[cand][:, cols] != codes[anchor][:, cols], axis=1)

    pending = np.arange(anchors.size)
    for _ in range(_REJECTION_ROUNDS):
        if pending.size == 0:
            break
        gp = g[pending]
        pick = table.order[table.starts[gp] + rng.integers(0, table.sizes[gp])]
        ok = differs(pick, anchors[pending])
        partner[pending[ok]] = pick[ok]
        pending = pending[~ok]
    for j in pending.tolist():  # exact, for anchors with few partners in a large group
        start = table.starts[g[j]]
        members = table.order[start : start + table.sizes[g[j]]]
        candidates = members[differs(members, np.full(members.size, anchors[j]))]
        partner[j] = candidates[rng.integers(candidates.size)]
    return partner


def _rng(seed: int, purpose: int, step: int) -> np.random.Generator:
    """The generator of one draw: a pure function of (seed, purpose, step), any int seed."""
    return np.random.default_rng([_PAIR_STREAM, purpose, seed & (2**64 - 1), step])


@dataclass
class PairPlan:
    """Everything needed to draw pairs from one pool of notes (cache indices `pool`)."""

    pool: np.ndarray
    factors: list[str]
    codes: np.ndarray
    tables: list[KindTable]
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def weights(self) -> np.ndarray:
        return np.array([t.kind.weight for t in self.tables])

    def draw(self, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
        """2 * n_pairs cache indices; rows (2i, 2i + 1) are partners, row 2i the anchor."""
        kinds = rng.choice(len(self.tables), size=n_pairs, p=self.weights)
        anchor = np.empty(n_pairs, dtype=np.int64)
        partner = np.empty(n_pairs, dtype=np.int64)
        for k, table in enumerate(self.tables):
            slots = np.flatnonzero(kinds == k)
            a = table.anchors[rng.integers(0, table.anchors.size, slots.size)]
            anchor[slots] = a
            partner[slots] = draw_partners(table, self.codes, a, rng)
        out = np.empty(2 * n_pairs, dtype=np.int64)
        out[0::2], out[1::2] = self.pool[anchor], self.pool[partner]
        return out

    def batch(self, seed: int, step: int, n_pairs: int) -> np.ndarray:
        """The pairs of training step `step`: a pure function of (seed, step)."""
        rng = _rng(seed, 0, step)
        return self.draw(n_pairs, rng)

    def each_anchor_once(self, seed: int) -> np.ndarray:
        """Fixed pairs with every allowed anchor once (in pool order), its kind drawn by weight
        among the kinds it has a partner of: the validation pairs."""
        rng = _rng(seed, 1, 0)
        allowed = np.zeros((len(self.tables), self.pool.size), dtype=bool)
        for k, table in enumerate(self.tables):
            allowed[k, table.anchors] = True
        anchors = np.flatnonzero(allowed.any(axis=0))
        w = allowed[:, anchors] * self.weights[:, None]
        cum = np.cumsum(w / w.sum(axis=0), axis=0)
        kinds = np.minimum((rng.random(anchors.size) >= cum).sum(axis=0), len(self.tables) - 1)
        last = len(self.tables) - 1 - np.argmax(allowed[::-1][:, anchors], axis=0)
        kinds = np.where(allowed[kinds, anchors], kinds, last)  # float rounding at the top end
        partner = np.empty(anchors.size, dtype=np.int64)
        for k, table in enumerate(self.tables):
            slots = np.flatnonzero(kinds == k)
            partner[slots] = draw_partners(table, self.codes, anchors[slots], rng)
        out = np.empty(2 * anchors.size, dtype=np.int64)
        out[0::2], out[1::2] = self.pool[anchors], self.pool[partner]
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-able description for the run manifest."""
        return {
            "factors": list(self.factors),
            "kinds": [
                {"share": list(t.kind.share), "differ": list(t.kind.differ),
                 "weight": round(t.kind.weight, 6), "anchors": int(t.anchors.size)}
                for t in self.tables
            ],
            "unpaired_skipped": dict(self.skipped),
        }  # fmt: skip


def build_plan(
    labels: dict[str, list],
    pool: np.ndarray,
    kinds: list[PairKind],
    factors: list[str],
    *,
    unpaired: str = "error",
    ids: list[str] | None = None,
    anchors: np.ndarray | None = None,
    what: str = "training",
    every_kind: bool = True,
) -> PairPlan:
    """A PairPlan over the notes `pool` (cache indices) of a cache with `labels`.

    `anchors` (cache indices, default the whole pool) limits which notes start a pair. A note
    without a partner of some kind stops here with a one-line DataError naming the labels
    (`unpaired="error"`), or is left out of that kind's anchors and counted (`"skip"`). A kind
    that no note can form is an error (with `every_kind`), else left without anchors; no pair
    at all is always an error.
    """
    pool = np.asarray(pool, dtype=np.int64)
    codes = factor_codes(labels, factors, pool)
    mask = None if anchors is None else np.isin(pool, anchors)
    tables, skipped, memo = [], {}, {}
    for kind in kinds:
        table = kind_table(codes, factors, kind, mask, memo)
        candidates = np.ones(pool.size, bool) if mask is None else mask
        lonely = np.flatnonzero(candidates & ~table.has_partner)
        if table.anchors.size == 0 and every_kind:
            raise DataError(f"data.pairs: no {what} note has a partner that {kind.describe()}")
        if lonely.size:
            example = ids[pool[lonely[0]]] if ids is not None else int(pool[lonely[0]])
            head = f"data.pairs: {lonely.size} of {int(candidates.sum())} {what} notes"
            if unpaired == "error":
                raise DataError(
                    f"{head} have no partner that {kind.describe()} (e.g. {example!r}); "
                    "set data.pairs.unpaired: skip to leave them out of such pairs"
                )
            log.warning("%s have no partner that %s (e.g. %r): skipped", head, kind.describe(),
                        example)  # fmt: skip
            skipped["+".join(kind.share)] = int(lonely.size)
        tables.append(table)
    if not any(t.anchors.size for t in tables):
        raise DataError(f"data.pairs: no {what} note has a partner of any kind asked for")
    return PairPlan(pool, list(factors), codes, tables, skipped)


def plan_from_section(
    section: Any,
    labels: dict[str, list],
    pool: np.ndarray,
    *,
    ids: list[str] | None = None,
    anchors: np.ndarray | None = None,
    unpaired: str | None = None,
    what: str = "training",
    every_kind: bool = True,
) -> PairPlan:
    """build_plan for a validated recipe `data.pairs` section."""
    kinds = None
    if section.kinds is not None:
        kinds = [(k.share, k.weight) for k in section.kinds]
    return build_plan(
        labels, pool, expand_kinds(section.share, kinds, list(section.factors)),
        list(section.factors), unpaired=unpaired or section.unpaired, ids=ids, anchors=anchors,
        what=what, every_kind=every_kind,
    )  # fmt: skip


__all__ = [
    "PairKind",
    "PairPlan",
    "build_plan",
    "draw_partners",
    "expand_kinds",
    "factor_codes",
    "group_ids",
    "kind_table",
    "partner_counts",
    "plan_from_section",
]

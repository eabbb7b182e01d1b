"""A disentanglement test that listens: swap pitch between notes of different instruments, render
through the Griffin-Lim stage, and ask pYIN which note plays and a family classifier whose timbre.

For N seeded pairs (A, B) of held-out instruments (different instrument and different pitch; each
held-out note is A at most once, so small data gives fewer pairs),
a swap callable renders "A's timbre at B's pitch"; the output's pYIN f0 is scored against B's
MIDI pitch (`audiovae.metrics.f0`), and its log-mel is labelled by an instrument-family classifier
fitted on the real log-mels of the training instruments (`audiovae.metrics.family`). The ceiling
row does the same with no model: B's audio through the front end and the Griffin-Lim stage.
Leakage probes (`audiovae.metrics.leakage`) read pitch from the timbre block and family from the
pitch block of the posterior means.

A swap callable is `(vae, a_audio, b_audio) -> audio`, batched: waveforms [n, samples] in,
[n, samples] out, so any generation API can be tested (`dims_swap` is today's default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from audiovae.errors import DataError
from audiovae.metrics.f0 import HIT_CENTS, PitchReading, note_pitch, sustained_window
from audiovae.metrics.family import FamilyClassifier, pooled_logmel
from audiovae.metrics.instrument_match import NoteReferences, nearest_instrument, reference_rows
from audiovae.metrics.leakage import block_leakage

SwapFn = Callable[[Any, torch.Tensor, torch.Tensor], torch.Tensor]
"""(vae, A waveforms [n, samples], B waveforms [n, samples]) -> swapped waveforms [n, samples]."""

PITCH_LABEL = "pitch"
VELOCITY_LABEL = "velocity"
INSTRUMENT_LABELS = ("instrument_str", "instrument")
FAMILY_LABELS = ("instrument_family_str", "instrument_family")
DEFAULT_PAIRS = 48
MAX_CLASSIFIER_NOTES = 4000  # the family classifier is fitted on at most this many real notes
BATCH = 16  # pairs decoded and rendered per batch


def dims_swap(dims: list[int], n_iter: int | None = None, seed: int = 0) -> SwapFn:
    """Today's swap: encode A and B, take `dims` of z from B, decode, Griffin-Lim."""
    index = torch.as_tensor(list(dims), dtype=torch.long)

    def swap(vae, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        z_a, _ = vae.encode(a)
        z_b, _ = vae.encode(b)
        z = z_a.clone()
        z[:, index] = z_b[:, index]
        return vae.decode_audio(z, length=a.shape[-1], n_iter=n_iter, seed=seed)

    return swap


def resynth_b(n_iter: int | None = None, seed: int = 0) -> SwapFn:
    """The ceiling: B's audio through the front end and the Griffin-Lim stage, no model."""

    def swap(vae, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return vae.to_audio(vae.logmel(b), length=b.shape[-1], n_iter=n_iter, seed=seed)

    return swap


def per_pair(fn: Callable[[Any, torch.Tensor, torch.Tensor], torch.Tensor]) -> SwapFn:
    """A batched swap from one that takes one pair of waveforms [samples] at a time."""

    def swap(vae, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        outs = [torch.as_tensor(fn(vae, x, y)).reshape(-1) for x, y in zip(a, b, strict=True)]
        return torch.stack(outs)

    return swap


def draw_pairs(
    rows: np.ndarray, instrument: np.ndarray, pitch: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to n (A, B) row pairs among `rows`, A and B of different instruments AND different
    pitches; each row is A at most once (a seeded permutation), B is drawn per A, so small data
    gives fewer pairs rather than repeats."""
    rows = np.asarray(rows)
    rng = np.random.default_rng(seed)
    a_rows, b_rows = [], []
    for a in rng.permutation(rows):
        if len(a_rows) == n:
            break
        ok = rows[(instrument[rows] != instrument[a]) & (pitch[rows] != pitch[a])]
        if len(ok):
            a_rows.append(a)
            b_rows.append(rng.choice(ok))
    return np.array(a_rows, dtype=np.int64), np.array(b_rows, dtype=np.int64)


@dataclass
class SwapScores:
    """One row of the listening table, and its per-pair readings."""

    pitch: PitchReading
    family_pred: np.ndarray
    family_a: np.ndarray
    family_b: np.ndarray
    features: np.ndarray  # pooled_logmel of each output's log-mel (what the judges read)
    examples: list[torch.Tensor] = field(default_factory=list)

    def summary(self, ceiling: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.pitch.summary())
        differ = self.family_a != self.family_b
        out["family_pairs"] = int(differ.sum())
        if ceiling:  # the ceiling plays B itself: how often its own family survives the stage
            out["family_kept"] = float(np.mean(self.family_pred == self.family_b))
            out["family_took_b"] = None
        elif differ.any():
            out["family_kept"] = float(np.mean(self.family_pred[differ] == self.family_a[differ]))
            out["family_took_b"] = float(np.mean(self.family_pred[differ] == self.family_b[differ]))
        else:
            out["family_kept"] = out["family_took_b"] = None
        return out


def score_swaps(
    vae,
    swap: SwapFn,
    load: Callable[[int], torch.Tensor],
    a_rows: np.ndarray,
    b_rows: np.ndarray,
    pitch: np.ndarray,
    family: np.ndarray | None,
    classifier: FamilyClassifier | None,
    *,
    midi_range: tuple[float, float],
    keep: int = 0,
    desc: str = "swaps",
    progress: bool = True,
) -> SwapScores:
    """Render every pair with `swap` in batches; pYIN against B's pitch, classifier on the output's
    log-mel. `load(row)` gives a row's waveform; the first `keep` outputs are kept for listening."""
    cents, voiced, preds, feats, kept = [], [], [], [], []
    bar = tqdm(total=len(a_rows), desc=desc, unit="pair", disable=not progress)
    for start in range(0, len(a_rows), BATCH):
        a_part, b_part = a_rows[start : start + BATCH], b_rows[start : start + BATCH]
        a = torch.stack([load(int(r)) for r in a_part]).to(vae.device)
        b = torch.stack([load(int(r)) for r in b_part]).to(vae.device)
        with torch.no_grad():
            out = torch.as_tensor(swap(vae, a, b)).float()
        if out.shape != a.shape:
            raise ValueError(f"the swap returned {tuple(out.shape)}, expected {tuple(a.shape)}")
        out = torch.nan_to_num(out.cpu(), nan=0.0, posinf=0.0, neginf=0.0)
        reading = note_pitch(out.numpy(), vae.sample_rate, pitch[b_part], midi_range=midi_range)
        cents.append(reading.cents)
        voiced.append(reading.voiced_fraction)
        with torch.no_grad():
            feats.append(pooled_logmel(vae.frontend(out.to(vae.device)).cpu()))
        if classifier is not None:
            preds.append(classifier.predict_pooled(feats[-1]))
        kept += list(out[: max(0, keep - len(kept))])
        bar.update(len(a_part))
    bar.close()
    fam = family if family is not None else np.zeros(len(pitch), dtype=object)
    return SwapScores(
        pitch=PitchReading(np.concatenate(cents), np.concatenate(voiced)),
        family_pred=np.concatenate(preds) if preds else np.full(len(a_rows), None),
        family_a=fam[a_rows],
        family_b=fam[b_rows],
        features=np.concatenate(feats),
        examples=kept,
    )


def resynth_features(vae, load: Callable[[int], torch.Tensor], rows: np.ndarray,
                     n_iter: int | None = None, seed: int = 0) -> np.ndarray:  # fmt: skip
    """`pooled_logmel` features [n, f] of real notes `rows` after the front end and the
    Griffin-Lim stage (no model): the instrument ceiling's queries."""
    render, feats = resynth_b(n_iter, seed), []
    for start in range(0, len(rows), BATCH):
        x = torch.stack([load(int(r)) for r in rows[start : start + BATCH]]).to(vae.device)
        with torch.no_grad():
            out = torch.nan_to_num(torch.as_tensor(render(vae, x, x)).float())
            feats.append(pooled_logmel(vae.frontend(out.to(vae.device)).cpu()))
    return np.concatenate(feats) if feats else np.zeros((0, 2 * vae.frontend.n_mels))


def _first_label(labels: dict[str, list], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in labels), None)


def _pooled_rows(cache, rows: np.ndarray, chunk: int = 256) -> np.ndarray:
    return np.concatenate(
        [pooled_logmel(cache.batch(rows[s : s + chunk])) for s in range(0, len(rows), chunk)]
    )


def pitch_block(vae, mu_train: np.ndarray, pitch_train: np.ndarray, k: int | None):
    """(pitch dims, timbre dims, how chosen): the model's named `pitch` block when it has one,
    else the k dims whose variance pitch explains best on the training notes (eta squared, as
    `audiovae swap`; default half the latent) and the rest as timbre."""
    blocks = dict(getattr(vae, "subspaces", None) or {})
    dim = mu_train.shape[1]
    if "pitch" in blocks:
        pitch = list(range(dim))[blocks["pitch"]]
        if "timbre" in blocks:
            timbre = list(range(dim))[blocks["timbre"]]
        else:
            timbre = [d for d in range(dim) if d not in set(pitch)]
        return pitch, timbre, "the model's named sub-spaces"
    from audiovae.generate.latents import factor_dims

    k = k or max(1, dim // 2)
    pitch = sorted(factor_dims(mu_train, pitch_train, k))
    rest = [d for d in range(dim) if d not in set(pitch)]
    return pitch, rest, f"{k} dims of highest eta squared for pitch on the training instruments"


def listening_test(
    vae,
    src,
    cache,
    mu: np.ndarray,
    *,
    pairs: int = DEFAULT_PAIRS,
    k: int | None = None,
    swap: SwapFn | None = None,
    n_iter: int | None = None,
    seed: int = 0,
    examples: int = 3,
    progress: bool = True,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The listening section of `audiovae evaluate` and up to `examples` swaps to play
    (dicts with ids, pitches and waveforms a, b, swap). `cache` holds the real log-mels of `src`
    and `mu` their posterior means (rows in cache order). `swap` defaults to `dims_swap`."""
    from audiovae.downstream.probe import instrument_split

    labels = cache.labels
    inst_name = _first_label(labels, INSTRUMENT_LABELS)
    fam_name = _first_label(labels, FAMILY_LABELS)
    if PITCH_LABEL not in labels or inst_name is None:
        return {"skipped": "the data lacks a `pitch` or an instrument label"}, []
    if vae.model.is_conditional:
        return {"skipped": "a conditional model: its pitch is the condition, not a latent"}, []
    try:
        pitch = np.asarray(labels[PITCH_LABEL], dtype=np.float64)
    except (TypeError, ValueError):
        return {"skipped": "the `pitch` label is not numeric MIDI"}, []
    instrument = np.array([str(v) for v in labels[inst_name]])
    family = np.array([str(v) for v in labels[fam_name]]) if fam_name else None
    try:
        train, test, split = instrument_split(instrument, seed=seed)
    except DataError as err:  # one instrument: no held-out split possible
        return {"skipped": f"no held-out instruments: {err}"}, []
    if len(np.unique(instrument[test])) < 2:
        return {"skipped": "fewer than 2 held-out instruments: no pairs"}, []
    rng = np.random.default_rng(seed)
    pitch_dims, timbre_dims, how = pitch_block(vae, mu[train], pitch[train], k)
    result: dict[str, Any] = {
        "split": split,
        "pitch_dims": pitch_dims,
        "pitch_dims_chosen_by": how,
        "leakage": block_leakage(mu, pitch_dims, timbre_dims, pitch, family, train, test, seed),
    }
    classifier = None
    fit_rows = train
    if len(train) > MAX_CLASSIFIER_NOTES:
        fit_rows = np.sort(rng.choice(train, MAX_CLASSIFIER_NOTES, replace=False))
    fit_features, test_features = _pooled_rows(cache, fit_rows), _pooled_rows(cache, test)
    velocity = None
    if VELOCITY_LABEL in labels:
        velocity = np.array([str(v) for v in labels[VELOCITY_LABEL]])
    references = NoteReferences.build(test_features, pitch[test], instrument[test],
                                      None if velocity is None else velocity[test],
                                      fit_features)  # fmt: skip
    if family is not None and len(np.unique(family[train])) >= 2:
        classifier = FamilyClassifier(seed=seed).fit_pooled(fit_features, family[fit_rows])
        held = classifier.predict_pooled(test_features)
        result["family_classifier"] = {
            "features": "per mel band: time mean minus the clip's mean, time std",
            "model": "StandardScaler + LogisticRegression(C=1)",
            "trained_on": f"{len(fit_rows)} real notes of the training instruments",
            "heldout_accuracy": float(np.mean(held == family[test])),
            "heldout_notes": int(len(test)),
            "chance": float(np.mean(family[test] == _majority(family[fit_rows]))),
        }
    a_rows, b_rows = draw_pairs(test, instrument, pitch, pairs, seed)
    if len(a_rows) == 0:
        return {**result, "skipped": "no held-out pair differs in instrument and pitch"}, []
    position = {clip_id: i for i, clip_id in enumerate(src.clips.ids)}

    def load(row: int) -> torch.Tensor:
        return src.clips.load(position[cache.ids[row]])

    lo, hi = float(pitch.min()) - 12.0, float(pitch.max()) + 12.0
    common = {"midi_range": (lo, hi), "progress": progress}
    swap = swap or dims_swap(pitch_dims, n_iter, seed)
    model = score_swaps(vae, swap, load, a_rows, b_rows, pitch, family, classifier,
                        keep=examples, desc="listen: swaps", **common)  # fmt: skip
    ceiling = score_swaps(vae, resynth_b(n_iter, seed), load, a_rows, b_rows, pitch, family,
                          classifier, desc="listen: ceiling", **common)  # fmt: skip
    # candidates: every held-out note at B's pitch, at any velocity (which block carries
    # velocity is not set by the swap, so the output's loudness is A's or B's or neither)
    heard = nearest_instrument(references, model.features, pitch[b_rows], instrument[a_rows])
    # the instrument ceiling: A's own real note at B's pitch (at B's velocity when A has it)
    # through the stage, matched the same way
    vel_b = None if velocity is None else velocity[b_rows]
    a_at_b = reference_rows(test, references, instrument[a_rows], pitch[b_rows], vel_b)
    has = a_at_b >= 0
    heard_ceiling = nearest_instrument(
        references, resynth_features(vae, load, a_at_b[has], n_iter, seed), pitch[b_rows][has],
        instrument[a_rows][has])  # fmt: skip
    start, stop = sustained_window(vae.clip_samples, vae.sample_rate)
    result.update(
        {
            "pairs": int(len(a_rows)),
            "seed": seed,
            "swap": model.summary() | heard.summary(instrument[a_rows], instrument[b_rows]),
            "ceiling": ceiling.summary(ceiling=True)
            | heard_ceiling.summary(instrument[a_rows][has], None),
            "per_pair": [
                {
                    "a": cache.ids[a],
                    "b": cache.ids[b],
                    "pitch_a": float(pitch[a]),
                    "pitch_b": float(pitch[b]),
                    "cents": _num(model.pitch.cents[i]),
                    "ceiling_cents": _num(ceiling.pitch.cents[i]),
                    "family_a": _str(model.family_a[i]),
                    "family_b": _str(model.family_b[i]),
                    "family_heard": _str(model.family_pred[i]),
                    "instrument_heard": _str(heard.heard[i]),
                }
                for i, (a, b) in enumerate(zip(a_rows, b_rows, strict=True))
            ],  # fmt: skip
            "estimator": (
                f"pYIN (librosa) f0 over {(stop - start) / vae.sample_rate:.2f} s of the sustained "
                f"part, median over voiced frames, vs B's MIDI pitch; a hit within +-{HIT_CENTS:g} "
                "cents; unvoiced outputs are misses and count as infinitely wrong in the median"
            ),
        }
    )
    chosen = []
    for i, wave in enumerate(model.examples):
        a, b = int(a_rows[i]), int(b_rows[i])
        chosen.append({"a": cache.ids[a], "b": cache.ids[b], "pitch_a": float(pitch[a]),
                       "pitch_b": float(pitch[b]), "cents": _num(model.pitch.cents[i]),
                       "waves": {"a": load(a), "b": load(b), "swap": wave}})  # fmt: skip
    return result, chosen


def _majority(values: np.ndarray) -> Any:
    classes, counts = np.unique(values, return_counts=True)
    return classes[np.argmax(counts)]


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def listening_section(
    vae,
    src,
    cache,
    mu: np.ndarray,
    *,
    pairs: int = DEFAULT_PAIRS,
    seed: int = 0,
    examples_dir=None,
    examples: int = 3,
    progress: bool = True,
) -> dict[str, Any]:
    """`listening_test` for `audiovae evaluate`: its JSON section; the first `examples` swaps are
    written as WAV triples (A, B, swap; one shared gain each) into `examples_dir` when given, and
    their file names recorded under "examples"."""
    from pathlib import Path

    from audiovae.audio.io import write_wav

    if pairs <= 0:
        return {"skipped": True}
    result, chosen = listening_test(
        vae, src, cache, mu, pairs=pairs, seed=seed, examples=examples if examples_dir else 0,
        progress=progress,
    )  # fmt: skip
    if examples_dir is None or not chosen:
        return result
    folder = Path(examples_dir)
    folder.mkdir(parents=True, exist_ok=True)
    listed = []
    for i, ex in enumerate(chosen):
        waves = torch.stack([ex["waves"][k].float().cpu() for k in ("a", "b", "swap")])
        waves = torch.nan_to_num(waves)
        waves = waves * min(1.0, 0.9 / max(float(waves.abs().max()), 1e-9))
        files = {}
        for key, wave in zip(("a", "b", "swap"), waves, strict=True):
            path = folder / f"swap_{i:02d}_{key}.wav"
            write_wav(path, wave, vae.sample_rate)
            files[key] = path.name
        listed.append({k: v for k, v in ex.items() if k != "waves"} | {"files": files})
    result["examples"] = {"folder": folder.name, "swaps": listed}
    return result


def listening_lines(section: dict[str, Any]) -> list[str]:
    """The listening section as lines of `audiovae evaluate`'s table."""
    if "swap" not in section:
        reason = section.get("skipped")
        return [f"{'listening test':<22} skipped" + (f" ({reason})" if reason is not True else "")]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.0f}%"

    def cents(v: float | None) -> str:
        return "unvoiced" if v is None else f"{v:.0f} c"

    head = f"{'listening (' + str(section['pairs']) + ' pairs)':<22} {'+-50 c':>7} {'median':>9}"
    lines = [head + f" {'unvoiced':>8} {'family kept':>11} {'took B':>7}"
                    f" {'instr. kept':>11} {'took B':>7}"]  # fmt: skip
    for name, row in (("swap", section["swap"]), ("ceiling (resynth B)", section["ceiling"])):
        lines.append(
            f"  {name:<20} {pct(row['within_50_cents']):>7} {cents(row['median_abs_cents']):>9}"
            f" {row['unvoiced']:>8} {pct(row['family_kept']):>11} {pct(row['family_took_b']):>7}"
            f" {pct(row.get('instrument_kept')):>11} {pct(row.get('instrument_took_b')):>7}"
        )
    swap = section["swap"]
    if swap.get("instrument_chance") is not None:
        lines.append(
            f"{'instrument heard':<22} nearest real note at B's pitch among held-out instruments"
            f" ({swap['instrument_pairs']} pairs, chance {pct(swap['instrument_chance'])}; "
            "ceiling: A's own note at that pitch through the stage)"
        )
    clf = section.get("family_classifier")
    if clf:
        lines.append(
            f"{'family classifier':<22} {pct(clf['heldout_accuracy'])} on held-out real notes "
            f"(chance {pct(clf['chance'])})"
        )
    for key, what in (("pitch_from_timbre", "pitch from timbre"),
                      ("family_from_pitch", "family from pitch")):  # fmt: skip
        probe = section["leakage"].get(key)
        if probe:
            lines.append(
                f"{what:<22} {pct(probe['accuracy'])} (chance {pct(probe['chance'])}, "
                f"{probe['dims']} dims)"
            )
    return lines

"""How good are the features? Classifier probes on mu against chance and a raw-log-mel PCA baseline.

For every target label a classifier (standardised features -> logistic regression or a small MLP)
is fitted on a training split and scored on a test split (accuracy and macro-F1), and two
baselines are scored on the same split in the same run: chance (the training set's majority class)
and the same classifier on PCA of the raw log-mels with as many components as the latent has
dimensions (PCA fitted on the training rows only).

Splits (see `instrument_split`): every target other than the instrument itself is scored on
instruments the classifier never saw. When every instrument name looks like NSynth's
`<family>_<source>_<k>` (the synthetic notes too), the instruments with the highest k of each
family are held out (round(test_size * n), at least one, none from a family with one instrument),
so the test set is the same whatever the seed; otherwise GroupShuffleSplit(seed) holds out
test_size of the instruments. The instrument target is split by notes, stratified; with
`split="notes"` every target is, for the random-split comparison. Instruments are read from the
`instrument_str` label (else `instrument`, or `group=`); without one, splits are by notes.

    >>> report = probe("notes.npz", ["pitch", "instrument_family"])   # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiovae.data.sources import open_data
from audiovae.downstream.extract import model_cache
from audiovae.downstream.features_file import Features, load_features
from audiovae.errors import DataError

CLASSIFIERS = ("logistic", "mlp")
SPLITS = ("instruments", "notes")
INSTRUMENT_LABELS = ("instrument_str", "instrument")
MAX_MAP_POINTS = 2000  # t-SNE is quadratic-ish: maps show a seeded subset of larger sets
MAX_PCA_FIT_ROWS = 10000  # the baseline PCA is fitted on at most this many training rows
_NSYNTH_INSTRUMENT = re.compile(r"(?P<family>.+)_(?P<source>[A-Za-z]+)_(?P<k>\d+)")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def make_classifier(kind: str = "logistic", seed: int = 0):
    """StandardScaler -> LogisticRegression or MLPClassifier (one hidden layer of 128)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic":
        clf = LogisticRegression(max_iter=2000)
    elif kind == "mlp":
        clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=500, random_state=seed)
    else:
        raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {kind!r}")
    return make_pipeline(StandardScaler(), clf)


def instrument_split(
    groups: Sequence[Any] | np.ndarray, *, test_size: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(train rows, test rows, description) with no group (instrument) on both sides.

    `<family>_<source>_<k>` names: the highest k of each family held out; else GroupShuffleSplit.
    """
    from sklearn.model_selection import GroupShuffleSplit

    groups = np.asarray(groups)
    names = sorted({str(g) for g in groups})
    if len(names) < 2:
        raise DataError(f"held-out instrument split needs 2 or more instruments, got {names}")
    matches = [_NSYNTH_INSTRUMENT.fullmatch(n) for n in names]
    held: list[str] = []
    if all(matches):
        families: dict[str, list[tuple[int, str]]] = {}
        for m in matches:
            families.setdefault(m["family"], []).append((int(m["k"]), m.string))
        for members in families.values():
            if len(members) >= 2:
                count = max(1, int(round(test_size * len(members))))
                held += [name for _, name in sorted(members)[-count:]]
    if held:
        test_mask = np.isin(groups.astype(str), held)
        how = "highest instrument index of each family held out"
    else:
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        _, test = next(splitter.split(np.zeros(len(groups)), groups=groups.astype(str)))
        test_mask = np.zeros(len(groups), dtype=bool)
        test_mask[test] = True
        held = sorted({str(g) for g in groups[test_mask]})
        how = f"GroupShuffleSplit(test_size={test_size}, seed={seed})"
    info = {"kind": "held-out instruments", "method": how, "held_out": sorted(held)}
    return np.flatnonzero(~test_mask), np.flatnonzero(test_mask), info


def note_split(
    y: np.ndarray, *, test_size: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(train rows, test rows, description): a random split of rows, stratified by `y` when every
    class has 2 or more rows."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    try:
        train, test = train_test_split(rows, test_size=test_size, random_state=seed, stratify=y)
        how = f"stratified by class (test_size={test_size}, seed={seed})"
    except ValueError:
        train, test = train_test_split(rows, test_size=test_size, random_state=seed)
        how = f"random, not stratified: a class has one row (test_size={test_size}, seed={seed})"
    return np.sort(train), np.sort(test), {"kind": "notes", "method": how}


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def _fit_predict(kind: str, seed: int, x: np.ndarray, y: np.ndarray, train, test) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning

    clf = make_classifier(kind, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x[train], y[train])
    return clf.predict(x[test])


def _target_classes(features: Features, target: str) -> tuple[np.ndarray, np.ndarray]:
    """(class index per row, class names) of a label; DataError if it cannot be a class label."""
    if target not in features.labels:
        available = ", ".join(sorted(features.labels)) or "none"
        raise DataError(f"target {target!r} is not a label of the features (labels: {available})")
    values = np.asarray(features.labels[target])
    if values.ndim != 1:
        raise DataError(f"target {target!r} holds {values.shape[1]} values per row (multi-label)")
    classes, y = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"target {target!r} has a single value ({classes[0]!r}): nothing to probe")
    if len(classes) > max(50, len(values) // 2):
        raise DataError(
            f"target {target!r} has {len(classes)} distinct values in {len(values)} rows: "
            "a continuous value, not classes"
        )
    return y, classes


def _group_label(features: Features, group: str | None) -> str | None:
    if group is not None:
        if group not in features.labels:
            raise DataError(f"group label {group!r} is not a label of the features")
        return group
    return next((name for name in INSTRUMENT_LABELS if name in features.labels), None)


class _RawLogMels:
    """The raw log-mels of the feature rows, read through the feature cache, flattened; PCA'd."""

    def __init__(self, features: Features, data: str | Path | None, cache_dir, progress: bool):
        from audiovae.api import AudioVAE

        folder = data if data is not None else features.source
        if not folder:
            raise DataError("the features file records no data folder: pass --data DIR")
        if not Path(folder).exists():
            raise DataError(
                f"data of the PCA baseline not found: {folder} (pass --data DIR, or --no-baseline)"
            )
        if not features.model:
            raise DataError(
                "the features file records no model run folder (needed for the "
                "front end of the log-mel baseline); use --no-baseline"
            )
        vae = AudioVAE.load(features.model, device="cpu")
        src = open_data(folder, sample_rate=vae.sample_rate, clip_samples=vae.clip_samples)
        self.cache = model_cache(vae, src.clips, cache_dir, progress)
        position = {clip_id: i for i, clip_id in enumerate(self.cache.ids)}
        missing = [str(n) for n in features.name if str(n) not in position]
        if missing:
            raise DataError(
                f"{len(missing)} feature rows have no log-mel in {folder} (first: {missing[0]}); "
                "pass the data folder the features were extracted from with --data"
            )
        self.rows = np.array([position[str(n)] for n in features.name], dtype=np.int64)
        self.folder = str(Path(folder).resolve())

    def matrix(self, rows: np.ndarray) -> np.ndarray:
        """Flattened float32 log-mels [len(rows), n_mels * frames] of feature rows."""
        return self.cache.batch(self.rows[rows]).flatten(1).numpy()

    def pca(self, n_components: int, train: np.ndarray, seed: int, chunk: int = 2048) -> np.ndarray:
        """PCA scores of every row, fitted on (at most MAX_PCA_FIT_ROWS of) the training rows."""
        from sklearn.decomposition import PCA

        rng = np.random.default_rng(seed)
        fit_rows = train
        if len(train) > MAX_PCA_FIT_ROWS:
            fit_rows = np.sort(rng.choice(train, MAX_PCA_FIT_ROWS, replace=False))
        x = self.matrix(fit_rows)
        k = min(n_components, x.shape[0], x.shape[1])
        pca = PCA(
            n_components=k,
            svd_solver="randomized" if min(x.shape) > 1000 else "full",
            random_state=seed,
        ).fit(x)
        n = len(self.rows)
        out = np.empty((n, k), dtype=np.float32)
        for start in range(0, n, chunk):
            rows = np.arange(start, min(start + chunk, n))
            out[rows] = pca.transform(self.matrix(rows))
        return out


def probe(
    features: str | Path | Features,
    targets: Sequence[str],
    *,
    classifier: str = "logistic",
    out_dir: str | Path | None = None,
    data: str | Path | None = None,
    seed: int = 0,
    test_size: float = 0.25,
    group: str | None = None,
    split: str = "instruments",
    baseline: bool = True,
    plots: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score a classifier per target on mu, chance and raw-log-mel PCA; write probe.json and PNGs.

    split="notes" splits every target by notes (stratified), for the random-split comparison.
    out_dir defaults to the features file's folder. Returns the report written to probe.json.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}")
    if not targets:
        raise ValueError("give at least one target label")
    path = None
    if not isinstance(features, Features):
        path = Path(features)
        features = load_features(path)
    if out_dir is None:
        if path is None:
            raise ValueError("out_dir is required when features are passed in memory")
        out_dir = path.parent
    out_dir = Path(out_dir)
    if features.start_seconds is not None:
        raise DataError(
            "the features hold one row per window: probe needs one row per clip "
            "(extract without --windows, or with --pool mean|max)"
        )
    classes = {t: _target_classes(features, t) for t in targets}  # validate all before any work
    group_label = _group_label(features, group)
    raw = _RawLogMels(features, data, cache_dir, progress) if baseline else None

    splits: dict[str, tuple[np.ndarray, np.ndarray, dict[str, Any]]] = {}
    pca_cache: dict[str, np.ndarray] = {}
    results: dict[str, Any] = {}
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for target, (y, names) in classes.items():
        if split == "notes" or group_label is None or target in (group_label, *INSTRUMENT_LABELS):
            key = f"notes:{target}"
            if key not in splits:
                splits[key] = note_split(y, test_size=test_size, seed=seed)
        else:
            key = "instruments"
            if key not in splits:
                splits[key] = instrument_split(
                    features.labels[group_label], test_size=test_size, seed=seed
                )
                splits[key][2]["group_label"] = group_label
        train, test, info = splits[key]
        pred = _fit_predict(classifier, seed, features.mu, y, train, test)
        predictions[target] = (y[test], pred)
        chance = np.full(len(test), np.bincount(y[train], minlength=len(names)).argmax())
        entry: dict[str, Any] = {
            "split": info,
            "train_rows": int(len(train)),
            "test_rows": int(len(test)),
            "classes": int(len(names)),
            "mu": _scores(y[test], pred),
            "pca_logmel": None,
            "chance": _scores(y[test], chance),
        }
        if raw is not None:
            if key not in pca_cache:
                pca_cache[key] = raw.pca(features.latent_dim, train, seed)
            base = _fit_predict(classifier, seed, pca_cache[key], y, train, test)
            entry["pca_logmel"] = _scores(y[test], base)
        results[target] = entry

    report: dict[str, Any] = {
        "features": str(path.resolve()) if path is not None else None,
        "model": features.model,
        "source": features.source,
        "baseline_data": raw.folder if raw is not None else None,
        "baseline": "PCA of the flattened log-mel of each clip's first model window "
        "(the model's input), fitted on the training rows",
        "classifier": classifier,
        "seed": seed,
        "test_size": test_size,
        "split": split,
        "rows": len(features),
        "latent_dim": features.latent_dim,
        "pool": features.pool,
        "targets": results,
        "files": [],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    report["files"].append("probe.json")
    if plots:
        for target, (y_true, y_pred) in predictions.items():
            png = _confusion_png(
                y_true,
                y_pred,
                classes[target][1],
                out_dir / f"confusion_{_slug(target)}.png",
                target,
            )
            report["files"].append(png.name)
        maps = _mu_maps(features.mu, seed)
        for target, (y, names) in classes.items():
            png = _map_png(maps, y, names, out_dir / f"map_{_slug(target)}.png", target)
            report["files"].append(png.name)
    (out_dir / "probe.json").write_text(json.dumps(report, indent=2))
    return report


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table: one row per target, accuracy / macro-F1 per column."""
    head = f"{'target':<22} {'split':<12} {'classes':>7}  {'mu acc':>7} {'mu F1':>6}"
    head += f"  {'PCA acc':>7} {'PCA F1':>6}  {'chance acc':>10} {'chance F1':>9}"
    lines = [head, "-" * len(head)]
    for target, r in report["targets"].items():
        split = "instruments" if r["split"]["kind"] == "held-out instruments" else "notes"
        pca = r["pca_logmel"]
        pca_text = (
            f"{pca['accuracy']:>7.3f} {pca['macro_f1']:>6.3f}" if pca else f"{'-':>7} {'-':>6}"
        )
        lines.append(
            f"{target:<22} {split:<12} {r['classes']:>7}  {r['mu']['accuracy']:>7.3f} "
            f"{r['mu']['macro_f1']:>6.3f}  {pca_text}  {r['chance']['accuracy']:>10.3f} "
            f"{r['chance']['macro_f1']:>9.3f}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _confusion_png(
    y_true: np.ndarray, y_pred: np.ndarray, names: np.ndarray, path: Path, target: str
) -> Path:
    """Row-normalised confusion matrix of the probe on mu (test rows) as a PNG."""
    from sklearn.metrics import confusion_matrix

    from audiovae.plots import plot_confusion

    k = len(names)
    matrix = confusion_matrix(y_true, y_pred, labels=np.arange(k)).astype(np.float64)
    matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    accuracy = float(np.mean(y_true == y_pred))
    title = f"{target}: probe on mu, test rows (accuracy {accuracy:.3f})"
    return plot_confusion(matrix, [str(n) for n in names], path, title)


def _mu_maps(mu: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """2-D PCA and t-SNE coordinates of standardised mu, on a seeded subset of large sets."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    rows = np.arange(len(mu))
    if len(mu) > MAX_MAP_POINTS:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(mu), MAX_MAP_POINTS, replace=False))
    x = StandardScaler().fit_transform(mu[rows])
    pca = PCA(n_components=2, random_state=seed).fit_transform(x)
    perplexity = float(min(30.0, max(2.0, (len(rows) - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    with threadpool_limits(1):  # its OpenMP gradient ran 7x slower on 2 busy cores than 1 thread
        coords = tsne.fit_transform(x)
    return {"rows": rows, "PCA": pca, "t-SNE": coords}


def _map_png(
    maps: dict[str, np.ndarray], y: np.ndarray, names: np.ndarray, path: Path, target: str
) -> Path:
    """PCA and t-SNE maps of mu side by side, points coloured by a target's class."""
    plt = _pyplot()
    y = y[maps["rows"]]
    k = len(names)
    numeric = np.issubdtype(np.asarray(names).dtype, np.number)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    scatter = None
    for ax, method in zip(axes, ("PCA", "t-SNE"), strict=True):
        xy = maps[method]
        if numeric and k > 10:
            values = np.asarray(names, dtype=np.float64)[y]
            scatter = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap="viridis", s=6)
        else:
            cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
            for c in range(k):
                sel = y == c
                ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=cmap(c % cmap.N), label=str(names[c]))
        ax.set_title(f"mu, {method}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if scatter is not None:
        fig.colorbar(scatter, ax=axes, shrink=0.8, label=target)
    elif k <= 20:
        axes[1].legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"latent means coloured by {target} ({len(y)} rows)", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

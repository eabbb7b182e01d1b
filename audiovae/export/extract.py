"""Latent features of every clip of a data source, for downstream classifiers (`audiovae extract`).

One row per clip (or per window of a clip) holds its name, the posterior mean `mu` (extraction is
deterministic: never a sample), the posterior log-variance and every label the source carries.
Rows follow the source's order: NSynth notes sorted by note_str, audio files sorted by relative
path, a list file in its own order. A file that cannot be read is reported and skipped.

Clips are cropped from the start or zero-padded to the model's window, as `AudioVAE.encode` does;
`windows=True` instead slides the window over the whole file (hop = half a window by default) and
`pool="mean"|"max"` reduces those windows to one row per clip.

    >>> feats = extract_features("runs/demo", "notes/")            # doctest: +SKIP
    >>> save_features(feats, "notes.npz")                          # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from audiovae.api import AudioVAE
from audiovae.audio.io import load_audio
from audiovae.data.clip import SILENCE_PEAK, load_clip
from audiovae.data.clipset import ClipSet
from audiovae.data.folder import AUDIO_EXTENSIONS, audio_folder_clipset
from audiovae.data.nsynth import nsynth_clipset
from audiovae.errors import AudioVAEError, DataError
from audiovae.features.cache import FeatureCache, build_cache
from audiovae.features.logmel import LogMelFrontEnd

FORMATS = ("npz", "csv", "parquet")
POOLS = ("mean", "max")
RESERVED = (
    *("name", "mu", "logvar", "start_seconds", "source", "model", "label_names", "pool"),
    *("file", "allow_pickle"),  # keyword arguments of np.savez
)
"""Array / column names of a features file that are not labels (a label so named gets `label_`)."""


@dataclass
class Features:
    """Rows of latent features: one per clip, or per window with `start_seconds`.

    Attributes:
        name: unicode [rows]: NSynth note_str, path relative to the folder, or the list's line.
        mu, logvar: float32 [rows, latent_dim]: posterior mean and log-variance.
        labels: label name -> array [rows] (or [rows, k] for list labels such as `qualities`).
        source: the data folder or list file the rows came from (resolved path).
        model: the run folder of the model ("" when unknown).
        start_seconds: float32 [rows] start of each window (per-window rows only), else None.
        pool: "" (no pooling), "mean" or "max".
        skipped: {"id", "reason"} for every file left out as unreadable.
        dropped_labels: labels that cannot be stored as a non-object array (ragged lists, None).
    """

    name: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    model: str = ""
    start_seconds: np.ndarray | None = None
    pool: str = ""
    skipped: list[dict[str, str]] = field(default_factory=list)
    dropped_labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.mu.shape[0])

    @property
    def latent_dim(self) -> int:
        """Number of latent dimensions (columns of mu)."""
        return int(self.mu.shape[1])


@dataclass
class DataSource:
    """A data argument resolved: its kind, the resolved path, a ClipSet and one file per clip."""

    kind: str  # "nsynth", "folder", "list" or "file"
    path: Path
    clips: ClipSet
    files: list[str]


# --------------------------------------------------------------------------- data sources


def path_list_clipset(
    list_file: str | Path,
    *,
    sample_rate: int,
    clip_samples: int,
    crop: str = "start",
    min_samples: int = 1,
) -> tuple[ClipSet, list[str]]:
    """A ClipSet over the audio files named in a text file, one per line, in the file's order.

    Blank lines and lines starting with `#` are ignored; relative paths are taken relative to the
    list file's folder. ids are the lines as written; returns the ClipSet and the resolved paths.
    """
    list_file = Path(list_file).expanduser()
    try:
        text = list_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{list_file}: cannot read the list of audio paths ({err})") from None
    ids: list[str] = []
    files: list[str] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line in first_line:
            raise DataError(
                f"{list_file}: line {number}: {line!r} already listed on line {first_line[line]}"
            )
        first_line[line] = number
        path = Path(line).expanduser()
        ids.append(line)
        files.append(str(path if path.is_absolute() else list_file.parent / path))
    if not ids:
        raise DataError(f"{list_file}: lists no audio files (one path per line expected)")
    resolved = list_file.resolve()
    clips = files_clipset(
        resolved.stem,
        ids,
        files,
        {"kind": "path_list", "list": str(resolved)},
        sample_rate=sample_rate,
        clip_samples=clip_samples,
        crop=crop,
        min_samples=min_samples,
    )
    return clips, files


def files_clipset(
    name: str,
    ids: list[str],
    files: list[str],
    origin: dict[str, Any],
    *,
    sample_rate: int,
    clip_samples: int,
    crop: str = "start",
    min_samples: int = 1,
) -> ClipSet:
    """A ClipSet over explicit audio files, without labels; `origin` describes where the list
    came from (part of the cache fingerprint, with each file's size and time)."""
    digest = hashlib.sha1()
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            continue  # reported (and skipped) when the clip is loaded
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    fingerprint = {
        **origin,
        "audio": digest.hexdigest(),
        "sample_rate": sample_rate,
        "clip_samples": clip_samples,
        "crop": crop,
        "min_samples": min_samples,
    }

    def load(index: int) -> torch.Tensor:
        return load_clip(
            files[index],
            sample_rate=sample_rate,
            clip_samples=clip_samples,
            crop=crop,
            min_samples=min_samples,
        )

    return ClipSet(name=name, ids=ids, labels={}, load=load, fingerprint=fingerprint, info={})


def open_data(data: str | Path, *, sample_rate: int, clip_samples: int) -> DataSource:
    """An NSynth-format folder (has examples.json), a folder of audio, a text file of paths, or
    one audio file.

    Clips are cropped from the start or zero-padded to `clip_samples`; any non-empty file counts.
    """
    path = Path(data).expanduser()
    args = {"sample_rate": sample_rate, "clip_samples": clip_samples, "crop": "start"}
    if path.is_dir() and (path / "examples.json").is_file():
        clips = nsynth_clipset(path, **args, min_samples=1)
        audio = os.path.join(str(path), "audio", "")
        return DataSource("nsynth", path.resolve(), clips, [f"{audio}{i}.wav" for i in clips.ids])
    if path.is_dir():
        clips = audio_folder_clipset(path, **args, min_samples=1)
        return DataSource("folder", path.resolve(), clips, [str(path / i) for i in clips.ids])
    if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS:  # a single audio file
        resolved = path.resolve()
        origin = {"kind": "audio_file", "path": str(resolved)}
        clips = files_clipset(resolved.stem, [path.name], [str(path)], origin, **args)
        return DataSource("file", resolved, clips, [str(path)])
    if path.is_file():
        clips, files = path_list_clipset(path, **args, min_samples=1)
        return DataSource("list", path.resolve(), clips, files)
    raise DataError(
        f"data not found: {path} (expected an NSynth-format folder with examples.json, a folder "
        "of audio files, or a text file with one audio path per line)"
    )


# --------------------------------------------------------------------------- extraction


def window_starts(num_samples: int, window: int, hop: int) -> np.ndarray:
    """Start samples of the windows covering a clip: every `hop` samples, the last one zero-padded
    where the clip does not fill it; a clip shorter than a window gives one (padded) window."""
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be positive, got {window} and {hop}")
    count = 1 + math.ceil(max(0, num_samples - window) / hop)
    return np.arange(count, dtype=np.int64) * hop


def extract_features(
    model: str | Path | AudioVAE,
    data: str | Path,
    *,
    windows: bool = False,
    pool: str | None = None,
    hop_seconds: float | None = None,
    batch_size: int = 64,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    checkpoint: str = "best",
    device: str | None = None,
    progress: bool = True,
) -> Features:
    """Encode every clip of `data` with a model (a run folder or an AudioVAE) into Features.

    Whole clips are read through the feature cache (`use_cache`, kept under `cache_dir`);
    `windows`/`pool` read the full files instead. Unreadable files are skipped and listed.
    """
    if pool is not None and pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)} or None, got {pool!r}")
    if hop_seconds is not None and not (windows or pool):
        raise ValueError("hop_seconds applies to windows: set windows=True or a pool")
    if hop_seconds is not None and not hop_seconds > 0:
        raise ValueError(f"hop_seconds must be positive, got {hop_seconds!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size!r}")
    if isinstance(model, AudioVAE):
        vae, model_name = model, str(getattr(model, "run_dir", "") or "")
    else:
        vae = AudioVAE.load(model, checkpoint=checkpoint, device=device)
        model_name = str(Path(model).expanduser().resolve())
    src = open_data(data, sample_rate=vae.sample_rate, clip_samples=vae.clip_samples)
    if windows or pool:
        hop = (
            max(1, int(round(hop_seconds * vae.sample_rate)))
            if hop_seconds is not None
            else max(1, vae.clip_samples // 2)
        )
        rows = _encode_windows(vae, src, hop, batch_size, progress)
    elif use_cache:
        rows = _encode_cached(vae, src, cache_dir, batch_size, progress)
    else:
        rows = _encode_direct(vae, src, batch_size, progress)
    clip_index, starts, mu, logvar, skipped = rows
    if pool:
        clip_index, mu, logvar = _pool(clip_index, mu, logvar, pool)
        starts = None
    labels, dropped = label_arrays(src.clips.labels, clip_index)
    return Features(
        name=np.array([src.clips.ids[i] for i in clip_index], dtype=str).reshape(-1),
        mu=mu,
        logvar=logvar,
        labels=labels,
        source=str(src.path),
        model=model_name,
        start_seconds=None if starts is None else (starts / vae.sample_rate).astype(np.float32),
        pool=pool or "",
        skipped=skipped,
        dropped_labels=dropped,
    )


_Rows = tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, list[dict[str, str]]]


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _stack(parts: list[np.ndarray], latent_dim: int) -> np.ndarray:
    if not parts:
        return np.zeros((0, latent_dim), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


def _no_rows(src: DataSource, skipped: list[dict[str, str]]) -> DataError:
    return DataError(
        f"{src.path}: every one of {len(src.clips)} clips was skipped as unreadable "
        f"(first: {skipped[0]['reason']})"
        if skipped
        else f"{src.path}: no clips"
    )


def model_cache(
    vae: AudioVAE, clips: ClipSet, cache_dir: str | Path | None, progress: bool
) -> FeatureCache:
    """The feature cache of `clips` under the model's front end and clip length (built on the CPU;
    unreadable clips are skipped and listed in its meta.json)."""
    return build_cache(
        clips,
        LogMelFrontEnd(**vae.frontend.config()),
        vae.clip_samples,
        cache_root=Path(cache_dir) if cache_dir is not None else None,
        on_bad_file="skip",
        progress=progress,
    )


def _encode_cached(
    vae: AudioVAE, src: DataSource, cache_dir: str | Path | None, batch_size: int, progress: bool
) -> _Rows:
    """Log-mels from the feature cache (built once with the model's front end), then the encoder."""
    try:
        cache = model_cache(vae, src.clips, cache_dir, progress)
    except DataError as err:
        if "every clip was skipped" in str(err):
            raise DataError(f"{src.path}: every clip was skipped as unreadable") from None
        raise
    skipped = [dict(s) for s in cache.meta.get("skipped", [])]
    position = {clip_id: i for i, clip_id in enumerate(src.clips.ids)}
    clip_index = np.array([position[clip_id] for clip_id in cache.ids], dtype=np.int64)
    mus, logvars = [], []
    bar = tqdm(total=len(cache), desc="encode", unit="clip", disable=not progress)
    for start in range(0, len(cache), batch_size):
        stop = min(start + batch_size, len(cache))
        rows = np.arange(start, stop)
        cond = clip_condition(vae, cache.labels, rows, src.path)
        mu, logvar = vae.encode_logmel(cache.batch(rows), batch_size, cond)
        mus.append(_numpy(mu))
        logvars.append(_numpy(logvar))
        bar.update(stop - start)
    bar.close()
    dim = vae.latent_dim
    return clip_index, None, _stack(mus, dim), _stack(logvars, dim), skipped


def clip_condition(vae: AudioVAE, labels: dict, rows, source) -> dict | None:
    """A conditional model's condition for these clips, read from the data's labels."""
    if not vae.conditions:
        return None
    missing = [name for name in vae.conditions if name not in labels]
    if missing:
        raise DataError(
            f"{source}: the model is conditioned on {missing}, which this data does not label"
        )
    return {name: [labels[name][i] for i in rows] for name in vae.conditions}


def _encode_direct(vae: AudioVAE, src: DataSource, batch_size: int, progress: bool) -> _Rows:
    """Decode each file, run the front end and the encoder on the model's device; no cache."""
    kept: list[int] = []
    skipped: list[dict[str, str]] = []
    mus, logvars = [], []
    n = len(src.clips)
    bar = tqdm(total=n, desc="extract", unit="clip", disable=not progress)
    for start in range(0, n, batch_size):
        waves, ok = [], []
        for i in range(start, min(start + batch_size, n)):
            try:
                waves.append(src.clips.load(i))
                ok.append(i)
            except DataError as err:
                skipped.append({"id": src.clips.ids[i], "reason": str(err)})
        if waves:
            cond = clip_condition(vae, src.clips.labels, ok, src.path)
            mu, logvar = vae.encode_logmel(vae.logmel(torch.stack(waves)), batch_size, cond)
            mus.append(_numpy(mu))
            logvars.append(_numpy(logvar))
            kept.extend(ok)
        bar.update(min(start + batch_size, n) - start)
    bar.close()
    if not kept:
        raise _no_rows(src, skipped)
    dim = vae.latent_dim
    return np.array(kept, dtype=np.int64), None, _stack(mus, dim), _stack(logvars, dim), skipped


def _encode_windows(
    vae: AudioVAE, src: DataSource, hop: int, batch_size: int, progress: bool
) -> _Rows:
    """Slide the model's window over each whole file; batches mix windows of several files."""
    if vae.conditions:
        raise AudioVAEError("--windows / --pool are not supported for conditional models yet")
    window = vae.clip_samples
    clip_index: list[int] = []
    starts: list[int] = []
    skipped: list[dict[str, str]] = []
    mus, logvars = [], []
    pending: list[torch.Tensor] = []

    def flush() -> None:
        if pending:
            mu, logvar = vae.encode_logmel(vae.logmel(torch.stack(pending)), batch_size)
            mus.append(_numpy(mu))
            logvars.append(_numpy(logvar))
            pending.clear()

    for i, path in enumerate(tqdm(src.files, desc="extract", unit="clip", disable=not progress)):
        try:
            audio = load_audio(path, vae.sample_rate)
            peak = float(audio.abs().max())
            if peak < SILENCE_PEAK:
                raise DataError(f"{path}: silent (peak {peak:.1e})")
        except DataError as err:
            skipped.append({"id": src.clips.ids[i], "reason": str(err)})
            continue
        offsets = window_starts(int(audio.shape[-1]), window, hop)
        padded = torch.nn.functional.pad(audio, (0, int(offsets[-1]) + window - audio.shape[-1]))
        frames = padded.unfold(0, window, hop)  # a view: [windows, window]
        for j in range(len(offsets)):
            pending.append(frames[j])
            if len(pending) >= batch_size:
                flush()
        clip_index.extend([i] * len(offsets))
        starts.extend(offsets.tolist())
    flush()
    if not clip_index:
        raise _no_rows(src, skipped)
    dim = vae.latent_dim
    return (
        np.array(clip_index, dtype=np.int64),
        np.array(starts, dtype=np.int64),
        _stack(mus, dim),
        _stack(logvars, dim),
        skipped,
    )


def _pool(
    clip_index: np.ndarray, mu: np.ndarray, logvar: np.ndarray, how: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per clip from its window rows (consecutive in `clip_index`).

    mean: mu is the mean of the windows' means; logvar is log of the mean of their variances (the
    average per-window uncertainty, not the variance of the averaged mean). max: mu is the
    elementwise max and logvar, per dimension, that of the window attaining the max.
    """
    clips, first, counts = np.unique(clip_index, return_index=True, return_counts=True)
    order = np.argsort(first)
    clips, first, counts = clips[order], first[order], counts[order]
    out_mu = np.empty((len(clips), mu.shape[1]), dtype=np.float32)
    out_lv = np.empty_like(out_mu)
    for row, (start, count) in enumerate(zip(first, counts, strict=True)):
        m, lv = mu[start : start + count], logvar[start : start + count].astype(np.float64)
        if how == "mean":
            out_mu[row] = m.mean(axis=0)
            peak = lv.max(axis=0)
            out_lv[row] = peak + np.log(np.exp(lv - peak).mean(axis=0))
        else:
            arg = m.argmax(axis=0)
            out_mu[row] = m[arg, np.arange(m.shape[1])]
            out_lv[row] = lv[arg, np.arange(m.shape[1])]
    return clips.astype(np.int64), out_mu, out_lv


def label_arrays(
    labels: dict[str, list[Any]], index: np.ndarray
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Labels of the rows `index` as non-object arrays (lists of equal length become 2-D);
    returns the arrays and the names of labels that cannot be stored so (ragged, None, mixed)."""
    out: dict[str, np.ndarray] = {}
    dropped: list[str] = []
    for name, values in labels.items():
        array = _as_array([values[i] for i in index])
        key = f"label_{name}" if name in RESERVED else name
        if array is None:
            dropped.append(name)
        else:
            out[key] = array
    return out, dropped


def _as_array(values: list[Any]) -> np.ndarray | None:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        return None
    if array.dtype.kind not in "biufU" or array.ndim == 0 or array.ndim > 2:
        return None
    if array.ndim == 2 and array.shape[1] == 0:
        return None
    return array


# --------------------------------------------------------------------------- files


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """The format to write `path` in: `fmt`, else the file's suffix, else npz; checks that the
    libraries it needs are installed (before any clip is encoded)."""
    if fmt is None:
        suffix = Path(path).suffix.lower().lstrip(".")
        fmt = suffix if suffix in FORMATS else "npz"
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet":
        _pyarrow()
    return fmt


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise AudioVAEError(
            "parquet needs the pyarrow package (pip install pyarrow), or write --format npz or csv"
        ) from None
    return pyarrow


def save_features(features: Features, path: str | Path, fmt: str | None = None) -> Path:
    """Write Features as npz (loads with allow_pickle=False), csv or parquet; atomic."""
    path = Path(path)
    fmt = output_format(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        if fmt == "npz":
            with open(tmp, "wb") as handle:
                np.savez(handle, **_npz_arrays(features))
        elif fmt == "csv":
            _write_csv(features, tmp)
        else:
            _write_parquet(features, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _npz_arrays(f: Features) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        "name": np.asarray(f.name, dtype=str).reshape(-1),
        "mu": np.asarray(f.mu, dtype=np.float32),
        "logvar": np.asarray(f.logvar, dtype=np.float32),
    }
    if f.start_seconds is not None:
        arrays["start_seconds"] = np.asarray(f.start_seconds, dtype=np.float32)
    arrays.update(f.labels)
    arrays["label_names"] = np.array(list(f.labels), dtype=str).reshape(-1)
    arrays["source"] = np.array(f.source, dtype=str)
    arrays["model"] = np.array(f.model, dtype=str)
    arrays["pool"] = np.array(f.pool, dtype=str)
    return arrays


def _flat_columns(f: Features) -> dict[str, np.ndarray]:
    """Column name -> 1-D array: name, start_seconds, mu_i, logvar_i, labels (2-D as name_j)."""
    columns: dict[str, np.ndarray] = {"name": np.asarray(f.name, dtype=str)}
    if f.start_seconds is not None:
        columns["start_seconds"] = np.asarray(f.start_seconds, dtype=np.float32)
    for key in ("mu", "logvar"):
        values = np.asarray(getattr(f, key), dtype=np.float32)
        columns.update({f"{key}_{j}": values[:, j] for j in range(values.shape[1])})
    for key, values in f.labels.items():
        if values.ndim == 2:
            columns.update({f"{key}_{j}": values[:, j] for j in range(values.shape[1])})
        else:
            columns[key] = values
    return columns


def _cell(value: Any) -> str:
    if isinstance(value, (np.floating, float)):
        return format(float(value), ".9g")
    return str(value.item() if isinstance(value, np.generic) else value)


def _write_csv(f: Features, path: Path) -> None:
    columns = _flat_columns(f)
    columns["source"] = np.full(len(f), f.source, dtype=object)
    columns["model"] = np.full(len(f), f.model, dtype=object)
    names = list(columns)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in range(len(f)):
            writer.writerow([_cell(columns[name][row]) for name in names])


def _write_parquet(f: Features, path: Path) -> None:
    pa = _pyarrow()
    columns = {key: value.tolist() for key, value in _flat_columns(f).items()}
    meta = {"source": f.source, "model": f.model, "pool": f.pool, "label_names": list(f.labels)}
    table = pa.table(columns).replace_schema_metadata({"audiovae": json.dumps(meta)})
    pa.parquet.write_table(table, str(path))


def load_features(path: str | Path) -> Features:
    """Read a features file written by `save_features` (npz, csv or parquet, by suffix)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"features file not found: {path}")
    fmt = output_format(path)
    if fmt == "npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: not a features .npz file ({err})") from None
        missing = [k for k in ("name", "mu", "logvar") if k not in arrays]
        if missing:
            raise DataError(f"{path}: no {', '.join(missing)} array (not written by extract?)")
        names = [str(n) for n in arrays.get("label_names", [])]
        return Features(
            name=arrays["name"],
            mu=arrays["mu"].astype(np.float32),
            logvar=arrays["logvar"].astype(np.float32),
            labels={key: arrays[key] for key in names},
            source=str(arrays.get("source", "")),
            model=str(arrays.get("model", "")),
            start_seconds=arrays.get("start_seconds"),
            pool=str(arrays.get("pool", "")),
        )
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if not rows:
            raise DataError(f"{path}: empty features CSV")
        header, body = rows[0], rows[1:]
        columns = {name: [row[j] for row in body] for j, name in enumerate(header)}
        meta = {k: (columns.pop(k)[:1] or [""])[0] for k in ("source", "model") if k in columns}
    else:
        table = _pyarrow().parquet.read_table(str(path))
        columns = {
            name: [str(v) for v in table.column(name).to_pylist()] for name in table.schema.names
        }
        raw = (table.schema.metadata or {}).get(b"audiovae", b"{}")
        meta = json.loads(raw)
    return _from_columns(path, columns, meta)


def _from_columns(path: Path, columns: dict[str, list[str]], meta: dict[str, Any]) -> Features:
    if "name" not in columns:
        raise DataError(f"{path}: no name column (not written by extract?)")

    def block(prefix: str) -> np.ndarray:
        keys = sorted(
            (k for k in columns if re.fullmatch(rf"{prefix}_\d+", k)),
            key=lambda k: int(k.rsplit("_", 1)[1]),
        )
        if not keys:
            raise DataError(f"{path}: no {prefix}_0... columns (not written by extract?)")
        return np.array([columns.pop(k) for k in keys], dtype=np.float32).T

    name = np.array(columns.pop("name"), dtype=str)
    mu, logvar = block("mu"), block("logvar")
    starts = columns.pop("start_seconds", None)
    stacked = {}  # 2-D labels written as name_0, name_1, ...: whole again where the file says so
    for key in meta.get("label_names", []):
        if key not in columns:
            parts = [k for k in columns if re.fullmatch(rf"{re.escape(key)}_\d+", k)]
            parts.sort(key=lambda k: int(k.rsplit("_", 1)[1]))
            if parts:
                stacked[key] = np.stack([_parse_column(columns.pop(k)) for k in parts], axis=1)
    labels = {key: _parse_column(values) for key, values in columns.items()} | stacked
    return Features(
        name=name,
        mu=mu,
        logvar=logvar,
        labels=labels,
        source=str(meta.get("source", "")),
        model=str(meta.get("model", "")),
        start_seconds=None if starts is None else np.array(starts, dtype=np.float32),
        pool=str(meta.get("pool", "")),
    )


def _parse_column(values: list[str]) -> np.ndarray:
    """Ints if every value is an int, else floats if every one parses, else strings."""
    if values and all(re.fullmatch(r"[+-]?\d+", v.strip()) for v in values):
        return np.array([int(v) for v in values], dtype=np.int64)
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)


def extract(
    model: str | Path | AudioVAE,
    data: str | Path,
    out: str | Path,
    *,
    fmt: str | None = None,
    **options: Any,
) -> Features:
    """extract_features + save_features; the output format is checked before any clip is read."""
    fmt = output_format(out, fmt)
    features = extract_features(model, data, **options)
    save_features(features, out, fmt)
    return features

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

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from audiovae.api import AudioVAE
from audiovae.audio.io import load_audio
from audiovae.data.clip import SILENCE_PEAK
from audiovae.data.clipset import ClipSet
from audiovae.data.sources import DataSource, open_data
from audiovae.downstream.features_file import (
    RESERVED,
    Features,
    output_format,
    save_features,
)
from audiovae.errors import AudioVAEError, DataError
from audiovae.features.cache import FeatureCache, build_cache
from audiovae.features.logmel import LogMelFrontEnd

POOLS = ("mean", "max")


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
        vae, model_name = model, str(model.run_dir or "")
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

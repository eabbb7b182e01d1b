"""The feature cache: log-mels computed once into a float16 memory-mapped array.

Training then reads tensors with one sorted fancy index per batch (measured < 1% of a CPU step in
shared/MEASURED.md) and is never bound by STFTs or audio decoding. A cache folder is keyed by a hash
of the front-end settings and the data source's fingerprint, so changing either builds a new one.
It is written into a temporary folder and renamed into place, so a killed build leaves nothing
half-made behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from audiovae.data.clipset import ClipSet
from audiovae.errors import DataError
from audiovae.features.logmel import LogMelFrontEnd

CACHE_FORMAT = 1
log = logging.getLogger(__name__)


def default_cache_root() -> Path:
    """$AUDIOVAE_CACHE, else $XDG_CACHE_HOME/audiovae, else ~/.cache/audiovae."""
    if os.environ.get("AUDIOVAE_CACHE"):
        return Path(os.environ["AUDIOVAE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "audiovae"


def cache_key(frontend: LogMelFrontEnd, clips: ClipSet, clip_samples: int) -> str:
    """Hash of everything that determines the cached arrays."""
    spec = {
        "format": CACHE_FORMAT,
        "frontend": frontend.config(),
        "clip_samples": clip_samples,
        "source": clips.fingerprint,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass
class FeatureCache:
    """A built cache: `features` [clips, n_mels, frames] float16 (memory-mapped) and labels."""

    path: Path
    features: np.ndarray
    ids: list[str]
    labels: dict[str, list[Any]]
    meta: dict[str, Any]

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(n_mels, frames) of one clip."""
        return int(self.features.shape[1]), int(self.features.shape[2])

    def batch(self, indices: np.ndarray | torch.Tensor) -> torch.Tensor:
        """float32 log-mels [batch, n_mels, frames] of `indices`, in the order given.

        Reads with one sorted fancy index (sequential on disk), then restores the order.
        """
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        block = np.asarray(self.features[idx[order]], dtype=np.float32)
        out = np.empty_like(block)
        out[order] = block
        return torch.from_numpy(out)

    @classmethod
    def open(cls, path: Path) -> FeatureCache:
        """Open a finished cache folder (meta.json is written last and marks completion)."""
        meta = json.loads((path / "meta.json").read_text())
        index = json.loads((path / "labels.json").read_text())
        features = np.load(path / "features.npy", mmap_mode="r")
        return cls(path, features, index["ids"], index["labels"], meta)


def build_cache(
    clips: ClipSet,
    frontend: LogMelFrontEnd,
    clip_samples: int,
    cache_root: Path | None = None,
    on_bad_file: Literal["error", "skip"] = "error",
    batch_size: int = 8,
    progress: bool = True,
) -> FeatureCache:
    """Return the cache for `clips`, computing it (once, with a progress bar) if needed.

    The log-mels are computed on the front end's device (move it to the GPU to build there).

    A clip whose loader raises DataError stops the build (`on_bad_file="error"`) or is logged and
    left out (`"skip"`); skipped ids are listed in meta.json.
    """
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    final = root / f"{clips.name}-{cache_key(frontend, clips, clip_samples)}"
    if (final / "meta.json").is_file():
        return FeatureCache.open(final)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
    try:
        _compute(clips, frontend, clip_samples, tmp, on_bad_file, batch_size, progress)
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished the same cache first
            if not (final / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return FeatureCache.open(final)


def _compute(
    clips: ClipSet,
    frontend: LogMelFrontEnd,
    clip_samples: int,
    out: Path,
    on_bad_file: str,
    batch_size: int,
    progress: bool,
) -> None:
    n = len(clips)
    if n == 0:
        raise DataError(f"data source {clips.name!r} holds no clips")
    frames = frontend.num_frames(clip_samples)
    feats = np.lib.format.open_memmap(
        out / "features.npy", mode="w+", dtype=np.float16, shape=(n, frontend.n_mels, frames)
    )
    kept: list[int] = []
    skipped: list[dict[str, str]] = []
    bar = tqdm(total=n, desc=f"log-mels {clips.name}", unit="clip", disable=not progress)
    for start in range(0, n, batch_size):
        indices = list(range(start, min(start + batch_size, n)))
        waves, ok = _load_many(clips, indices, clip_samples, on_bad_file, skipped)
        if waves:
            with torch.inference_mode():
                logmel = frontend(torch.stack(waves).to(frontend.window.device))
            feats[len(kept) : len(kept) + len(ok)] = logmel.cpu().numpy().astype(np.float16)
            kept.extend(ok)
        bar.update(len(indices))
    bar.close()
    if not kept:
        raise DataError(f"data source {clips.name!r}: every clip was skipped as unreadable")
    feats.flush()
    del feats
    if len(kept) < n:
        full = np.load(out / "features.npy", mmap_mode="r")
        trimmed = np.lib.format.open_memmap(
            out / "features.part.npy",
            mode="w+",
            dtype=np.float16,
            shape=(len(kept),) + full.shape[1:],
        )
        trimmed[:] = full[: len(kept)]
        trimmed.flush()
        del full, trimmed
        os.replace(out / "features.part.npy", out / "features.npy")
        log.warning("%s: skipped %d of %d clips (listed in %s)", clips.name, n - len(kept), n, out)
    labels = {k: [_jsonable(v[i]) for i in kept] for k, v in clips.labels.items()}
    (out / "labels.json").write_text(
        json.dumps({"ids": [clips.ids[i] for i in kept], "labels": labels})
    )
    meta = {
        "format": CACHE_FORMAT,
        "source": clips.name,
        "frontend": frontend.config(),
        "clip_samples": clip_samples,
        "clips": len(kept),
        "skipped": skipped,
        "fingerprint": clips.fingerprint,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1, default=str))


def _load_many(
    clips: ClipSet,
    indices: list[int],
    clip_samples: int,
    on_bad_file: str,
    skipped: list[dict[str, str]],
) -> tuple[list[torch.Tensor], list[int]]:
    """Load clips, applying the bad-file policy one clip at a time."""
    waves: list[torch.Tensor] = []
    ok: list[int] = []
    for i in indices:
        try:
            wave = clips.load(i)
        except DataError as err:
            if on_bad_file == "error":
                raise DataError(
                    f"{err} (set data.on_bad_file: skip to leave such clips out)"
                ) from None
            log.warning("skipping %s: %s", clips.ids[i], err)
            skipped.append({"id": clips.ids[i], "reason": str(err)})
            continue
        if wave.shape != (clip_samples,):
            raise ValueError(
                f"{clips.ids[i]}: loader returned {wave.shape[-1]} samples, expected {clip_samples}"
            )
        waves.append(wave)
        ok.append(i)
    return waves, ok


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value

"""ClipSets over explicit audio files (no labels): any list of files, or a text file of paths."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from audiovae.data.clip import load_clip
from audiovae.data.clipset import ClipSet
from audiovae.errors import DataError


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

"""A folder of audio files (searched recursively) as a ClipSet, with optional labels from a CSV."""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import soundfile as sf
import torch

from audiovae.data.clip import check_clip_args, clip_generator, load_clip
from audiovae.data.clipset import ClipSet
from audiovae.errors import DataError

# libsndfile format name -> the file extensions that usually carry it. Only formats that hold
# music or field recordings are listed (not RAW, MAT, HTK, ...), and only those this build of
# libsndfile can read end up in AUDIO_EXTENSIONS.
_FORMAT_EXTENSIONS = {
    "WAV": (".wav",),
    "WAVEX": (".wav",),
    "W64": (".w64",),
    "RF64": (".rf64",),
    "FLAC": (".flac",),
    "OGG": (".ogg", ".oga"),
    "AIFF": (".aiff", ".aif", ".aifc"),
    "CAF": (".caf",),
    "AU": (".au", ".snd"),
    "MP3": (".mp3",),
}


def _supported_extensions() -> tuple[str, ...]:
    available = {name.upper() for name in sf.available_formats()}
    found = {ext for fmt, exts in _FORMAT_EXTENSIONS.items() if fmt in available for ext in exts}
    if "OGG" in available and "OPUS" in sf.available_subtypes("OGG"):
        found.add(".opus")
    return tuple(sorted(found))


AUDIO_EXTENSIONS: tuple[str, ...] = _supported_extensions()

_INT_RE = re.compile(r"[+-]?\d+")


def _scan(root: Path) -> dict[str, tuple[int, int]]:
    """Relative posix path -> (size, mtime_ns) of every audio file under root.

    Hidden files and folders (macOS `._*` companions, `.git`) are skipped; symlinked folders are
    followed once each.
    """
    found: dict[str, tuple[int, int]] = {}
    seen: set[str] = set()
    stack = [(root, PurePosixPath())]
    while stack:
        directory, rel = stack.pop()
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(directory) as entries:
                items = list(entries)
        except OSError as err:
            raise DataError(f"{directory}: cannot list folder ({err.strerror or err})") from None
        for entry in items:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    stack.append((Path(entry.path), rel / entry.name))
                elif os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS:
                    st = entry.stat()
                    found[(rel / entry.name).as_posix()] = (st.st_size, st.st_mtime_ns)
            except OSError:
                continue  # a dangling link or a file removed during the scan
    return found


def _parse_column(values: list[str]) -> list[Any]:
    """Ints if every value is an int, else floats if every value is a float, else strings."""
    stripped = [v.strip() for v in values]
    if stripped and all(_INT_RE.fullmatch(v) for v in stripped):
        return [int(v) for v in stripped]
    try:
        return [float(v) for v in stripped]
    except ValueError:
        return list(values)


def _normalise_relpath(text: str) -> str:
    path = os.path.normpath(text.strip().replace("\\", "/"))
    return PurePosixPath(path).as_posix() if not os.path.isabs(path) else path


def _read_labels_csv(csv_path: Path) -> tuple[list[str], dict[str, list[Any]]]:
    """(relative paths, label columns) from a labels CSV; DataError naming the CSV and row."""
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: labels CSV not found")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            rows = [(n, row) for n, row in enumerate(csv.reader(handle), start=1) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{csv_path}: cannot read the labels CSV ({err})") from None
    if not rows:
        raise DataError(
            f"{csv_path}: labels CSV is empty (expected a header row with a path column)"
        )
    header = [name.strip() for name in rows[0][1]]
    if "path" in header:
        path_col = header.index("path")
    elif header[0]:
        path_col = 0
    else:
        raise DataError(
            f"{csv_path}: row 1: no path column (name a column `path`, or put the file paths, "
            "relative to the audio folder, in the first column under a header)"
        )
    names = [name for i, name in enumerate(header) if i != path_col]
    for name in names:
        if not name:
            raise DataError(f"{csv_path}: row 1: a label column has no name")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DataError(f"{csv_path}: row 1: duplicated column name(s) {', '.join(duplicated)}")
    paths: list[str] = []
    columns: dict[str, list[str]] = {name: [] for name in names}
    first_row: dict[str, int] = {}
    for n, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(
                f"{csv_path}: row {n}: {len(row)} values for {len(header)} columns ({row!r})"
            )
        if not row[path_col].strip():
            raise DataError(f"{csv_path}: row {n}: empty path in column {header[path_col]!r}")
        rel = _normalise_relpath(row[path_col])
        if rel in first_row:
            raise DataError(
                f"{csv_path}: row {n}: path {rel!r} already listed in row {first_row[rel]}"
            )
        first_row[rel] = n
        paths.append(rel)
        for i, name in enumerate(header):
            if i != path_col:
                columns[name].append(row[i])
    if not paths:
        raise DataError(f"{csv_path}: labels CSV has a header but no rows")
    return paths, {name: _parse_column(values) for name, values in columns.items()}


def audio_folder_clipset(
    folder: str | Path,
    *,
    sample_rate: int,
    clip_samples: int,
    crop: str = "start",
    min_samples: int = 1,
    labels_csv: str | Path | None = None,
) -> ClipSet:
    """A ClipSet over the audio files under a folder (recursive), or over the rows of a CSV.

    Labels always hold `folder` (each file's parent folder, relative); a CSV adds its columns.
    """
    check_clip_args(
        sample_rate=sample_rate, clip_samples=clip_samples, crop=crop, min_samples=min_samples
    )
    if folder is None or str(folder) == "":
        raise DataError("no audio folder given (set data.train to a folder of audio files)")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"audio folder not found: {root}")
    resolved = root.resolve()
    csv_stat = None
    csv_resolved = None
    if labels_csv is None:
        stats = _scan(root)
        if not stats:
            raise DataError(
                f"{root}: no audio files found (searched recursively for "
                f"{', '.join(AUDIO_EXTENSIONS)})"
            )
        ids = sorted(stats)
        extra: dict[str, list[Any]] = {}
    else:
        csv_path = Path(labels_csv).expanduser()
        ids, extra = _read_labels_csv(csv_path)
        csv_resolved = str(csv_path.resolve())
        st = csv_path.stat()
        csv_stat = [st.st_size, st.st_mtime_ns]
        stats = {}
        for rel in ids:
            try:
                st = os.stat(root / rel)
            except OSError:
                continue  # reported as a DataError when the clip is loaded
            stats[rel] = (st.st_size, st.st_mtime_ns)

    labels: dict[str, list[Any]] = {"folder": [PurePosixPath(rel).parent.as_posix() for rel in ids]}
    labels.update(extra)  # a CSV column named `folder` overrides the derived one
    digest = hashlib.sha1()
    for rel in sorted(stats):
        size, mtime_ns = stats[rel]
        digest.update(f"{rel}\0{size}\0{mtime_ns}\n".encode())
    fingerprint = {
        "kind": "audio_folder",
        "folder": str(resolved),
        "labels_csv": csv_resolved,
        "labels_csv_stat": csv_stat,
        "audio": digest.hexdigest(),
        "sample_rate": sample_rate,
        "clip_samples": clip_samples,
        "crop": crop,
        "min_samples": min_samples,
    }
    paths = [str(root / rel) for rel in ids]

    def load(index: int) -> torch.Tensor:
        generator = clip_generator(ids[index]) if crop == "random" else None
        return load_clip(
            paths[index],
            sample_rate=sample_rate,
            clip_samples=clip_samples,
            crop=crop,
            min_samples=min_samples,
            generator=generator,
        )

    info = {"folder": str(resolved), "clips": len(ids), "missing_audio": len(ids) - len(stats)}
    return ClipSet(
        name=resolved.name,
        ids=ids,
        labels=labels,
        load=load,
        fingerprint=fingerprint,
        info=info,
    )

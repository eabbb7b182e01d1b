"""NSynth "jsonwav" split folders (examples.json + audio/<note_str>.wav) as a ClipSet.

The format is described in the project's NSYNTH_FORMAT notes: examples.json maps each note_str to
a flat object of 13 fields; the loader tolerates any field order, unsorted keys, the Python 2
`indent=4` layout and extra fields (kept as labels). Bad metadata fails at once with one line
naming the file, note and field; a missing or bad WAV fails only when that clip is loaded.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from audiovae.data.clip import check_clip_args, clip_generator, load_clip
from audiovae.data.clipset import ClipSet
from audiovae.errors import DataError

NSYNTH_FIELDS: tuple[str, ...] = (
    "note",
    "note_str",
    "instrument",
    "instrument_str",
    "pitch",
    "velocity",
    "sample_rate",
    "qualities",
    "qualities_str",
    "instrument_family",
    "instrument_family_str",
    "instrument_source",
    "instrument_source_str",
)
QUALITY_NAMES: tuple[str, ...] = (
    "bright",
    "dark",
    "distortion",
    "fast_decay",
    "long_release",
    "multiphonic",
    "nonlinear_env",
    "percussive",
    "reverb",
    "tempo-synced",
)
FAMILY_NAMES: tuple[str, ...] = (
    "bass",
    "brass",
    "flute",
    "guitar",
    "keyboard",
    "mallet",
    "organ",
    "reed",
    "string",
    "synth_lead",
    "vocal",
)
SOURCE_NAMES: tuple[str, ...] = ("acoustic", "electronic", "synthetic")

_INT_FIELDS = (
    "note",
    "instrument",
    "pitch",
    "velocity",
    "sample_rate",
    "instrument_family",
    "instrument_source",
)
_STR_FIELDS = ("note_str", "instrument_str", "instrument_family_str", "instrument_source_str")
_FIELD_SET = frozenset(NSYNTH_FIELDS)

_MISSING_FOLDER_HINT = (
    "expected examples.json and audio/; download nsynth-train/valid/test from the Magenta NSynth "
    "page, or point data.train at a folder written by `audiovae data synth`"
)


def _as_tuple(value: Any, name: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, int)):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise DataError(f"NSynth filter {name}: expected a list, got {value!r}") from None


def _check_names(values: tuple, valid: tuple[str, ...], name: str) -> None:
    unknown = [v for v in values if v not in valid]
    if unknown:
        raise DataError(
            f"NSynth filter {name}: unknown name(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(valid)}"
        )


def _check_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"NSynth filter {name}: expected an int, got {value!r}")


@dataclass(frozen=True)
class NSynthFilters:
    """Which notes of a split to keep; empty tuples and None mean "no constraint".

    families/sources/instruments include only the named values; exclude_* drop them; pitch_min
    and pitch_max are inclusive MIDI bounds; velocities keeps only the listed MIDI velocities.
    """

    families: tuple[str, ...] = ()
    exclude_families: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()
    exclude_instruments: tuple[str, ...] = ()
    pitch_min: int | None = None
    pitch_max: int | None = None
    velocities: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "families",
            "exclude_families",
            "sources",
            "instruments",
            "exclude_instruments",
            "velocities",
        ):
            object.__setattr__(self, name, _as_tuple(getattr(self, name), name))
        _check_names(self.families, FAMILY_NAMES, "families")
        _check_names(self.exclude_families, FAMILY_NAMES, "exclude_families")
        _check_names(self.sources, SOURCE_NAMES, "sources")
        for name in ("instruments", "exclude_instruments"):
            for value in getattr(self, name):
                if not isinstance(value, str):
                    raise DataError(
                        f"NSynth filter {name}: expected instrument_str names, got {value!r}"
                    )
        for value in self.velocities:
            _check_int(value, "velocities")
        for name in ("pitch_min", "pitch_max"):
            if getattr(self, name) is not None:
                _check_int(getattr(self, name), name)
        if (
            self.pitch_min is not None
            and self.pitch_max is not None
            and self.pitch_min > self.pitch_max
        ):
            raise DataError(
                f"NSynth filter: pitch_min {self.pitch_min} is above pitch_max {self.pitch_max}"
            )

    def describe(self) -> str:
        """The filters that constrain anything, as `name=value` pairs (for messages)."""
        default = NSynthFilters()
        parts = [
            f"{name}={value!r}"
            for name, value in asdict(self).items()
            if value != getattr(default, name)
        ]
        return "filters " + (", ".join(parts) if parts else "(none)")

    def keep(self, record: dict[str, Any]) -> bool:
        """Whether one examples.json record passes every filter."""
        family = record["instrument_family_str"]
        instrument = record["instrument_str"]
        pitch = record["pitch"]
        return not (
            (self.families and family not in self.families)
            or family in self.exclude_families
            or (self.sources and record["instrument_source_str"] not in self.sources)
            or (self.instruments and instrument not in self.instruments)
            or instrument in self.exclude_instruments
            or (self.pitch_min is not None and pitch < self.pitch_min)
            or (self.pitch_max is not None and pitch > self.pitch_max)
            or (self.velocities and record["velocity"] not in self.velocities)
        )


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _validate_record(path: Path, key: str, record: Any) -> None:
    """Raise a one-line DataError naming the file, note and field if a record is malformed."""
    where = f"{path}: note {key!r}"
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object of NSynth fields, got {_describe(record)}")
    missing = _FIELD_SET.difference(record)
    if missing:
        names = ", ".join(f for f in NSYNTH_FIELDS if f in missing)
        raise DataError(f"{where}: missing field(s) {names}")
    for field in _INT_FIELDS:
        value = record[field]
        if type(value) is not int:
            raise DataError(f"{where}: field {field!r} must be an int, got {_describe(value)}")
    for field in _STR_FIELDS:
        value = record[field]
        if type(value) is not str:
            raise DataError(f"{where}: field {field!r} must be a string, got {_describe(value)}")
    qualities = record["qualities"]
    if (
        type(qualities) is not list
        or len(qualities) != len(QUALITY_NAMES)
        or any(type(q) is not int for q in qualities)
    ):
        raise DataError(
            f"{where}: field 'qualities' must be a list of {len(QUALITY_NAMES)} ints, "
            f"got {_describe(qualities)}"
        )
    names = record["qualities_str"]
    if type(names) is not list or any(type(q) is not str for q in names):
        raise DataError(
            f"{where}: field 'qualities_str' must be a list of strings, got {_describe(names)}"
        )
    if record["note_str"] != key:
        raise DataError(
            f"{where}: key differs from the record's note_str {record['note_str']!r} "
            "(they must be equal; the WAV is audio/<note_str>.wav)"
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _split_folder(folder: str | Path | None) -> Path:
    if folder is None or str(folder) == "":
        raise DataError(f"no NSynth split folder given ({_MISSING_FOLDER_HINT})")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"NSynth split folder not found: {folder} ({_MISSING_FOLDER_HINT})")
    return folder


def read_examples(folder: str | Path) -> list[dict[str, Any]]:
    """Parse and validate a split's examples.json; records sorted by note_str.

    Extra fields are kept; any malformed record fails the whole read with one clear line.
    """
    with _gc_paused():
        return _read_examples(folder)


def _read_examples(folder: str | Path) -> list[dict[str, Any]]:
    folder = _split_folder(folder)
    path = folder / "examples.json"
    if not path.is_file():
        raise DataError(f"{path}: examples.json not found in the NSynth split folder ({folder})")
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
            "the file may be truncated, extract the NSynth archive again"
        ) from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: expected a JSON object mapping note_str to its fields, "
            f"got a {type(data).__name__}"
        )
    for key, record in data.items():
        _validate_record(path, key, record)
    return [data[key] for key in sorted(data)]


def _audio_stats(audio_dir: Path, names: set[str]) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of the named files that exist, from one directory scan."""
    stats: dict[str, tuple[int, int]] = {}
    try:
        with os.scandir(audio_dir) as entries:
            for entry in entries:
                if entry.name in names:
                    try:
                        st = entry.stat()
                    except OSError:
                        continue
                    stats[entry.name] = (st.st_size, st.st_mtime_ns)
    except OSError as err:
        raise DataError(
            f"{audio_dir}: cannot list the audio folder ({err.strerror or err})"
        ) from None
    return stats


def nsynth_clipset(
    folder: str | Path,
    *,
    sample_rate: int,
    clip_samples: int,
    crop: str = "start",
    min_samples: int = 1,
    filters: NSynthFilters | None = None,
) -> ClipSet:
    """A ClipSet over an NSynth split: ids are note_str, labels every other record field.

    A missing WAV does not stop the build: loading that clip raises DataError instead.
    """
    with _gc_paused():  # millions of small objects: cyclic GC scans cost seconds, free nothing
        return _nsynth_clipset(
            folder,
            sample_rate=sample_rate,
            clip_samples=clip_samples,
            crop=crop,
            min_samples=min_samples,
            filters=filters,
        )


def _nsynth_clipset(
    folder: str | Path,
    *,
    sample_rate: int,
    clip_samples: int,
    crop: str = "start",
    min_samples: int = 1,
    filters: NSynthFilters | None = None,
) -> ClipSet:
    check_clip_args(
        sample_rate=sample_rate, clip_samples=clip_samples, crop=crop, min_samples=min_samples
    )
    filters = filters if filters is not None else NSynthFilters()
    folder = _split_folder(folder)
    records = read_examples(folder)
    audio_dir = folder / "audio"
    if not audio_dir.is_dir():
        raise DataError(f"{audio_dir}: audio folder not found ({_MISSING_FOLDER_HINT})")
    kept = [r for r in records if filters.keep(r)]
    if not kept:
        if not records:
            raise DataError(f"{folder / 'examples.json'}: holds no notes")
        raise DataError(
            f"{folder}: no notes left after filtering {len(records)} notes with "
            f"{filters.describe()}"
        )

    ids = [r["note_str"] for r in kept]
    common = set(kept[0]).intersection(*kept[1:]) - {"note_str"}
    label_names = [f for f in NSYNTH_FIELDS if f in common]
    label_names += sorted(common - _FIELD_SET)
    labels = {name: [r[name] for r in kept] for name in label_names}

    wav_names = [f"{note}.wav" for note in ids]
    stats = _audio_stats(audio_dir, set(wav_names))
    digest = hashlib.sha1()
    for name in sorted(stats):
        size, mtime_ns = stats[name]
        digest.update(f"{name}\0{size}\0{mtime_ns}\n".encode())
    resolved = folder.resolve()
    examples_stat = (folder / "examples.json").stat()
    fingerprint = {
        "kind": "nsynth",
        "folder": str(resolved),
        "examples_json": [examples_stat.st_size, examples_stat.st_mtime_ns],
        "audio": digest.hexdigest(),
        "filters": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(filters).items()},
        "sample_rate": sample_rate,
        "clip_samples": clip_samples,
        "crop": crop,
        "min_samples": min_samples,
    }
    prefix = os.path.join(str(audio_dir), "")  # string joins: pathlib is slow for 289k notes
    paths = [prefix + name for name in wav_names]

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

    info = {
        "folder": str(resolved),
        "notes_in_split": len(records),
        "notes_kept": len(kept),
        "missing_audio": len(kept) - len(stats),
    }
    return ClipSet(
        name=resolved.name,
        ids=ids,
        labels=labels,
        load=load,
        fingerprint=fingerprint,
        info=info,
    )

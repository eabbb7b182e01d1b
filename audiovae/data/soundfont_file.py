"""Check that a file is a SoundFont (RIFF `sfbk`) and read its INFO chunk before FluidSynth does.

FluidSynth reports a bad file only on stderr; this gives a one-line error naming the file and what
was expected, and the version and name that render_info.json records.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

from audiovae.errors import DataError

_INFO_TEXT = {"INAM": "name", "isng": "sound_engine", "ICOP": "copyright", "IENG": "engineer"}


def _chunks(data: bytes, start: int, end: int):
    """(id, payload offset, payload size) of the RIFF chunks in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)


def soundfont_info(path: str | Path) -> dict[str, Any]:
    """File name, size, SHA-256 and the INFO fields (version `ifil`, name, engine) of a SoundFont.

    DataError if the file is missing or is not RIFF `sfbk` (SF2, or SF3 with compressed samples).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: SoundFont file not found")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise DataError(
            f"{path}: not a SoundFont (expected a RIFF file of form 'sfbk', as .sf2/.sf3 files "
            f"are; it starts with {data[:12]!r})"
        )
    info: dict[str, Any] = {
        "file": path.name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    lists = {}
    for cid, offset, size in _chunks(data, 12, end):
        if cid == b"LIST" and size >= 4:
            lists[data[offset : offset + 4]] = (offset + 4, offset + size)
    for needed in (b"INFO", b"sdta", b"pdta"):
        if needed not in lists:
            raise DataError(
                f"{path}: not a complete SoundFont (its LIST {needed.decode()!r} chunk is missing; "
                "the file may be truncated)"
            )
    start, stop = lists[b"INFO"]
    for cid, offset, size in _chunks(data, start, stop):
        body = data[offset : offset + size]
        key = cid.decode("latin-1")
        if key == "ifil" and size >= 4:
            major, minor = struct.unpack("<HH", body[:4])
            info["version"] = f"{major}.{minor:02d}"
        elif key in _INFO_TEXT:
            info[_INFO_TEXT[key]] = body.split(b"\0", 1)[0].decode("latin-1").strip()
    return info

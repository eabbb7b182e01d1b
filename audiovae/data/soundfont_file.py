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


def _chunks(data: bytes):
    """(id, payload) of the RIFF chunks in `data`."""
    pos = 0
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        yield cid, data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)


def _top_lists(handle, path: Path) -> dict[bytes, bytes | None]:
    """The top-level LIST chunks of a RIFF `sfbk` file: INFO's payload, None for the others."""
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise DataError(
            f"{path}: not a SoundFont (expected a RIFF file of form 'sfbk', as .sf2/.sf3 files "
            f"are; it starts with {head!r})"
        )
    end = 8 + struct.unpack("<I", head[4:8])[0]
    lists: dict[bytes, bytes | None] = {}
    pos = 12
    while pos + 12 <= end:
        handle.seek(pos)
        header = handle.read(12)
        if len(header) < 12:
            break
        cid, size, kind = header[:4], struct.unpack("<I", header[4:8])[0], header[8:12]
        if cid == b"LIST":
            lists[kind] = handle.read(size - 4) if kind == b"INFO" else None
        pos += 8 + size
        if size & 1:  # RIFF pads odd chunks; some SF3 writers (MuseScore's) do not
            handle.seek(pos)
            pos += handle.read(4) != b"LIST"
    return lists


def soundfont_info(path: str | Path) -> dict[str, Any]:
    """File name, size, SHA-256 and the INFO fields (version `ifil`, name, engine) of a SoundFont.

    DataError if the file is missing or is not RIFF `sfbk` (SF2, or SF3 with compressed samples).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: SoundFont file not found")
    try:
        with open(path, "rb") as handle:
            lists = _top_lists(handle, path)
            handle.seek(0)
            sha = hashlib.sha256()
            while block := handle.read(1 << 20):
                sha.update(block)
            digest = sha.hexdigest()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    for needed in (b"INFO", b"sdta", b"pdta"):
        if needed not in lists:
            raise DataError(
                f"{path}: not a complete SoundFont (its LIST {needed.decode()!r} chunk is missing; "
                "the file may be truncated)"
            )
    info: dict[str, Any] = {"file": path.name, "bytes": path.stat().st_size, "sha256": digest}
    for cid, body in _chunks(lists[b"INFO"] or b""):
        key = cid.decode("latin-1")
        if key == "ifil" and len(body) >= 4:
            major, minor = struct.unpack("<HH", body[:4])
            info["version"] = f"{major}.{minor:02d}"
        elif key in _INFO_TEXT:
            info[_INFO_TEXT[key]] = body.split(b"\0", 1)[0].decode("latin-1").strip()
    return info

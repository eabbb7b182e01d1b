"""Audio and images as base64 data URIs, so one HTML file carries every asset it shows.

Audio is compressed: Ogg Opus where libsndfile has it and the rate is one Opus takes, else Ogg
Vorbis, else 16-bit WAV. Chromium and Firefox decode all three.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # the only rates libopus encodes
OPUS_LEVEL = 0.9  # libsndfile's compression level; on 16 kHz mono notes it gave 39 kbit/s
# (~4.9 KB per second of audio; 0.8: 65 kbit/s, 0.95: 26 kbit/s, 0: 270 kbit/s)


@dataclass(frozen=True)
class EncodedAudio:
    """One clip ready for an <audio> element: its data URI, MIME type and true duration."""

    uri: str
    mime: str
    seconds: float
    size: int  # bytes before base64


def _formats(sample_rate: int) -> list[tuple[str, str, str, dict]]:
    """(format, subtype, MIME type, extra write args) to try, most compact first."""
    subtypes = sf.available_subtypes("OGG") if "OGG" in sf.available_formats() else {}
    out = []
    if "OPUS" in subtypes and sample_rate in OPUS_RATES:
        out.append(("OGG", "OPUS", 'audio/ogg; codecs="opus"', {"compression_level": OPUS_LEVEL}))
    if "VORBIS" in subtypes:
        out.append(("OGG", "VORBIS", 'audio/ogg; codecs="vorbis"', {}))
    out.append(("WAV", "PCM_16", "audio/wav", {}))
    return out


def encode_audio(wave: torch.Tensor | np.ndarray, sample_rate: int) -> EncodedAudio:
    """Mono audio [samples] in [-1, 1] -> the most compact format this libsndfile writes.

    Example:
        >>> clip = encode_audio(np.zeros(16000, dtype=np.float32), 16000)
        >>> clip.uri.startswith("data:audio/"), round(clip.seconds, 3)
        (True, 1.0)
    """
    data = wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
    data = np.clip(np.nan_to_num(data.astype(np.float32).reshape(-1)), -1.0, 1.0)
    if data.size == 0:
        raise ValueError("cannot encode an empty clip")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    last_error: Exception | None = None
    for fmt, subtype, mime, extra in _formats(sample_rate):
        buffer = io.BytesIO()
        try:
            sf.write(buffer, data, sample_rate, format=fmt, subtype=subtype, **extra)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            last_error = err  # this build lacks the codec or the setting: try the next
            continue
        raw = buffer.getvalue()
        uri = f"data:{mime.split(';')[0]};base64,{base64.b64encode(raw).decode('ascii')}"
        return EncodedAudio(uri, mime, data.size / sample_rate, len(raw))
    raise RuntimeError(f"libsndfile could not write any audio format ({last_error})")


class AudioEncoder:
    """Encodes clips on worker threads while the caller goes on (rendering the next sounds,
    drawing figures): libsndfile runs without the GIL, and one Opus clip of a second costs ~45 ms
    of CPU, so a report's ~40 clips were ~16% of its time when encoded one after another on one
    core. `submit` returns a Future of the EncodedAudio; `close` lets queued clips finish.

    Example:
        >>> with AudioEncoder(16000) as encoder:
        ...     future = encoder.submit(np.zeros(8000, dtype=np.float32))
        >>> round(future.result().seconds, 3)
        0.5
    """

    def __init__(self, sample_rate: int, workers: int = 2) -> None:
        self.sample_rate = int(sample_rate)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audio-encode")

    def submit(self, wave: torch.Tensor | np.ndarray) -> Future[EncodedAudio]:
        """Start encoding one clip (a CPU copy is taken now, so the caller may reuse `wave`)."""
        data = wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else wave
        return self.pool.submit(encode_audio, np.array(data, copy=True), self.sample_rate)

    def close(self) -> None:
        """No more clips; those queued still finish (their Futures stay valid)."""
        self.pool.shutdown(wait=False)

    def __enter__(self) -> AudioEncoder:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True)


def png_uri(png: bytes) -> str:
    """PNG bytes -> a data URI for an <img src>."""
    if not png.startswith(b"\x89PNG"):
        raise ValueError("expected PNG bytes")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

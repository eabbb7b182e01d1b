"""Audio-folder loader and load_clip: recursion, extensions, CSV labels, bad files, fingerprint."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiovae.audio.io import write_wav
from audiovae.data.clip import load_clip
from audiovae.data.folder import AUDIO_EXTENSIONS, audio_folder_clipset
from audiovae.errors import DataError

SR = 16000
CLIP = 2000


def tone(freq: float = 440.0, samples: int = 3000, rate: int = SR) -> np.ndarray:
    t = np.arange(samples) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def build(folder: Path, **kwargs):
    kwargs.setdefault("sample_rate", SR)
    kwargs.setdefault("clip_samples", CLIP)
    return audio_folder_clipset(folder, **kwargs)


def make_tree(root: Path) -> None:
    write_wav(root / "b.wav", tone(300.0), SR)
    write_wav(root / "a" / "x.wav", tone(400.0), SR)
    (root / "a" / "deeper").mkdir(parents=True)
    sf.write(str(root / "a" / "deeper" / "y.FLAC"), tone(500.0), SR)  # extension case ignored
    (root / "a" / "notes.txt").write_text("not audio")
    (root / "a" / "._x.wav").write_bytes(b"AppleDouble junk")
    (root / ".hidden").mkdir()
    write_wav(root / ".hidden" / "z.wav", tone(), SR)


def test_extensions_come_from_soundfile():
    assert ".wav" in AUDIO_EXTENSIONS and ".flac" in AUDIO_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in AUDIO_EXTENSIONS)
    assert ".txt" not in AUDIO_EXTENSIONS and ".raw" not in AUDIO_EXTENSIONS


def test_recursive_sorted_with_folder_labels(tmp_path):
    make_tree(tmp_path)
    clips = build(tmp_path)
    assert clips.ids == ["a/deeper/y.FLAC", "a/x.wav", "b.wav"]
    assert clips.labels == {"folder": ["a/deeper", "a", "."]}
    assert clips.name == tmp_path.name
    x = clips.load(2)
    assert x.shape == (CLIP,) and x.dtype == torch.float32
    np.testing.assert_allclose(x.numpy(), tone(300.0)[:CLIP], atol=1e-4)  # PCM_16 rounding


def test_no_audio_and_missing_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match=r"no audio files found \(searched recursively for .*\.wav"):
        build(tmp_path)
    with pytest.raises(DataError, match="audio folder not found: .*nowhere"):
        build(tmp_path / "nowhere")


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_rows_are_the_clips_and_columns_typed(tmp_path):
    make_tree(tmp_path)
    labels = write_csv(
        tmp_path / "labels.csv",
        "speaker,path,take,gain,mood\nann,b.wav,1,0.5,calm\nbob,./a/x.wav,-2,1,3\n",
    )
    clips = build(tmp_path, labels_csv=labels)
    assert clips.ids == ["b.wav", "a/x.wav"]  # CSV order, normalised paths
    assert clips.labels == {
        "folder": [".", "a"],
        "speaker": ["ann", "bob"],
        "take": [1, -2],
        "gain": [0.5, 1.0],
        "mood": ["calm", "3"],
    }
    assert isinstance(clips.labels["take"][0], int) and isinstance(clips.labels["gain"][1], float)
    assert clips.load(1).shape == (CLIP,)
    assert clips.fingerprint["labels_csv"] == str(labels.resolve())


def test_csv_path_defaults_to_first_column(tmp_path):
    make_tree(tmp_path)
    labels = write_csv(tmp_path / "labels.csv", "file,label\r\nb.wav,7\r\n\r\na/x.wav,8\r\n")
    clips = build(tmp_path, labels_csv=labels)
    assert clips.ids == ["b.wav", "a/x.wav"]
    assert clips.labels["label"] == [7, 8]


def test_csv_missing_file_fails_at_load(tmp_path):
    make_tree(tmp_path)
    labels = write_csv(tmp_path / "labels.csv", "path,y\nb.wav,1\ngone.wav,2\n")
    clips = build(tmp_path, labels_csv=labels)
    assert clips.info["missing_audio"] == 1
    with pytest.raises(DataError, match="gone.wav: audio file not found"):
        clips.load(1)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("path,y\nb.wav,1\na/x.wav\n", r"row 3: 1 values for 2 columns"),
        (",y\nb.wav,1\n", r"row 1: no path column"),
        ("path,y\nb.wav,1\n./b.wav,2\n", r"row 3: path 'b.wav' already listed in row 2"),
        ("path,y\n ,1\n", r"row 2: empty path"),
        ("path,y,y\nb.wav,1,2\n", r"duplicated column name\(s\) y"),
        ("path,y\n", r"header but no rows"),
        ("", r"labels CSV is empty"),
    ],
)
def test_csv_errors_name_the_file_and_row(tmp_path, text, expected):
    make_tree(tmp_path)
    labels = write_csv(tmp_path / "labels.csv", text)
    with pytest.raises(DataError, match=expected) as info:
        build(tmp_path, labels_csv=labels)
    assert str(info.value).startswith(str(labels)) and "\n" not in str(info.value)


def test_csv_not_found(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(DataError, match="labels CSV not found"):
        build(tmp_path, labels_csv=tmp_path / "nope.csv")


def test_fingerprint_changes_when_audio_or_csv_changes(tmp_path):
    make_tree(tmp_path)
    first = build(tmp_path).fingerprint
    assert first == build(tmp_path).fingerprint and first["kind"] == "audio_folder"
    wav = tmp_path / "a" / "x.wav"
    stat = wav.stat()
    write_wav(wav, tone(250.0), SR)  # same size, new content
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert build(tmp_path).fingerprint["audio"] != first["audio"]
    write_wav(tmp_path / "c.wav", tone(), SR)  # a new file
    assert build(tmp_path).fingerprint["audio"] != first["audio"]

    labels = write_csv(tmp_path / "labels.csv", "path,y\nb.wav,1\n")
    with_csv = build(tmp_path, labels_csv=labels).fingerprint
    stat = labels.stat()
    labels.write_text("path,y\nb.wav,2\n")
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert build(tmp_path, labels_csv=labels).fingerprint != with_csv


def test_load_clip_resamples_mixes_and_fits(tmp_path):
    path = write_wav(tmp_path / "st.wav", np.stack([tone(440.0), tone(440.0) * 0.0]), SR, "FLOAT")
    x = load_clip(path, sample_rate=SR, clip_samples=5000)
    np.testing.assert_allclose(x[:3000].numpy(), tone(440.0) / 2, atol=1e-6)
    assert x[3000:].abs().max() == 0  # zero padding at the end
    y = load_clip(path, sample_rate=8000, clip_samples=1000, crop="center")
    assert y.shape == (1000,)


@pytest.mark.parametrize(
    "write, kwargs, expected",
    [
        (lambda p: write_wav(p, tone(samples=100), SR), {"min_samples": 800}, "too short"),
        (lambda p: write_wav(p, np.zeros(3000), SR), {}, r"silent \(peak"),
        (lambda p: write_wav(p, 1e-6 * tone(), SR, "FLOAT"), {}, r"silent \(peak 5.0e-07\)"),
        (lambda p: p.write_bytes(os.urandom(2048)), {}, "cannot decode audio"),
        (lambda p: None, {}, "audio file not found"),
    ],
)
def test_load_clip_bad_files(tmp_path, write, kwargs, expected):
    path = tmp_path / "bad.wav"
    write(path)
    with pytest.raises(DataError, match=expected) as info:
        load_clip(path, sample_rate=SR, clip_samples=CLIP, **kwargs)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_too_short_message_counts_samples_at_target_rate(tmp_path):
    path = write_wav(tmp_path / "short.wav", tone(samples=400, rate=8000), 8000)
    with pytest.raises(DataError) as info:
        load_clip(path, sample_rate=SR, clip_samples=CLIP, min_samples=1000)
    assert str(info.value) == f"{path}: too short (800 samples at 16000 Hz, need at least 1000)"


def test_bad_settings_fail_at_build(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(ValueError, match="clip_samples must be a positive int"):
        build(tmp_path, clip_samples=0)
    with pytest.raises(ValueError, match="crop must be one of start, center, random"):
        build(tmp_path, crop="end")

"""NSynth jsonwav loader: the format's quirks, metadata errors, bad audio, filters, fingerprint."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from audiovae.audio.io import write_wav
from audiovae.audio.synth import SynthConfig, write_nsynth_folder
from audiovae.data.nsynth import (
    FAMILY_NAMES,
    NSYNTH_FIELDS,
    QUALITY_NAMES,
    SOURCE_NAMES,
    NSynthFilters,
    nsynth_clipset,
    read_examples,
)
from audiovae.errors import DataError

SR = 16000
CLIP = 4000

# (family, source, instrument index, pitch, velocity)
NOTES = [
    ("guitar", "acoustic", 1, 60, 100),
    ("guitar", "acoustic", 1, 64, 50),
    ("bass", "synthetic", 33, 40, 127),
    ("mallet", "electronic", 2, 72, 75),
    ("synth_lead", "synthetic", 0, 67, 25),
]


def tone(freq: float, seconds: float = 0.25, rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-3 * t)).astype(np.float32)


def make_record(family: str, source: str, index: int, pitch: int, velocity: int) -> dict:
    instrument_str = f"{family}_{source}_{index:03d}"
    note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
    qualities = [0] * len(QUALITY_NAMES)
    qualities[pitch % len(QUALITY_NAMES)] = 1
    return {
        "note": 1000 + pitch * 7 + velocity,
        "note_str": note_str,
        "instrument": FAMILY_NAMES.index(family) * 100 + index,
        "instrument_str": instrument_str,
        "pitch": pitch,
        "velocity": velocity,
        "sample_rate": SR,
        "qualities": qualities,
        "qualities_str": [QUALITY_NAMES[i] for i, q in enumerate(qualities) if q],
        "instrument_family": FAMILY_NAMES.index(family),
        "instrument_family_str": family,
        "instrument_source": SOURCE_NAMES.index(source),
        "instrument_source_str": source,
    }


def write_examples(folder: Path, records: dict) -> Path:
    """examples.json the way Python 2 wrote it: indent=4, ', ' separators (trailing spaces)."""
    path = folder / "examples.json"
    with open(path, "w") as handle:
        json.dump(records, handle, indent=4, separators=(", ", ": "))
    return path


def write_split(folder: Path, notes=NOTES, *, reorder: bool = False) -> dict[str, dict]:
    """An NSynth-format split in `folder` with a decaying sine per note; returns the records."""
    records = {}
    for family, source, index, pitch, velocity in notes:
        record = make_record(family, source, index, pitch, velocity)
        if reorder:  # Python 2 dict order: anything but the documented one
            record = dict(reversed(list(record.items())))
        records[record["note_str"]] = record
        freq = 440.0 * 2 ** ((pitch - 69) / 12)
        write_wav(folder / "audio" / f"{record['note_str']}.wav", tone(freq), SR)
    # keys deliberately unsorted
    write_examples(folder, dict(sorted(records.items(), reverse=True)))
    return records


def build(folder: Path, **kwargs):
    kwargs.setdefault("sample_rate", SR)
    kwargs.setdefault("clip_samples", CLIP)
    return nsynth_clipset(folder, **kwargs)


def dominant_hz(x: torch.Tensor, rate: int) -> float:
    spectrum = torch.fft.rfft(x * torch.hann_window(x.shape[-1])).abs()
    return float(spectrum.argmax()) * rate / x.shape[-1]


def test_reads_python2_layout_reordered_unsorted_with_extra_fields(tmp_path):
    records = write_split(tmp_path, reorder=True)
    text = (tmp_path / "examples.json").read_text()
    assert ", \n" in text  # the trailing-space layout the real file has
    data = json.loads(text)
    first = next(iter(data))
    data[first]["recorded_by"] = "someone"  # unknown field: kept
    for record in data.values():
        record["take"] = 3  # unknown field on every note: becomes a label
    write_examples(tmp_path, data)

    examples = read_examples(tmp_path)
    assert [r["note_str"] for r in examples] == sorted(records)
    assert examples[0].keys() >= set(NSYNTH_FIELDS)

    clips = build(tmp_path)
    assert clips.ids == sorted(records)
    assert clips.name == tmp_path.name
    assert len(clips) == len(NOTES)
    assert "note_str" not in clips.labels
    assert set(clips.labels) == (set(NSYNTH_FIELDS) - {"note_str"}) | {"take"}
    assert "recorded_by" not in clips.labels  # only on one note
    for i, note in enumerate(clips.ids):
        for field, values in clips.labels.items():
            expected = 3 if field == "take" else records[note][field]
            assert values[i] == expected
        assert isinstance(clips.labels["qualities"][i], list)
        assert len(clips.labels["qualities"][i]) == 10
    x = clips.load(0)
    assert x.dtype == torch.float32 and x.shape == (CLIP,)
    record = records[clips.ids[0]]
    assert dominant_hz(x, SR) == pytest.approx(440 * 2 ** ((record["pitch"] - 69) / 12), abs=8)


def test_missing_wav_fails_only_when_loaded(tmp_path):
    records = write_split(tmp_path)
    gone = sorted(records)[1]
    (tmp_path / "audio" / f"{gone}.wav").unlink()
    clips = build(tmp_path)
    assert clips.info["missing_audio"] == 1
    assert clips.load(0).shape == (CLIP,)
    with pytest.raises(DataError, match=f"{gone}.wav: audio file not found"):
        clips.load(1)


def test_missing_audio_folder_is_an_error_at_build(tmp_path):
    write_split(tmp_path)
    (tmp_path / "audio").rename(tmp_path / "wavs")
    with pytest.raises(DataError, match="audio folder not found"):
        build(tmp_path)


def test_wav_at_another_rate_is_resampled(tmp_path):
    records = write_split(tmp_path, NOTES[:1])
    note = next(iter(records))
    write_wav(tmp_path / "audio" / f"{note}.wav", tone(440.0, 0.25, 8000), 8000)
    x = build(tmp_path, clip_samples=8000).load(0)
    assert x.shape == (8000,)
    # 0.25 s at 8 kHz is 4000 samples at 16 kHz: the rest of the clip is zero padding
    assert x[3900:3990].abs().max() > 0.01
    assert x[4100:].abs().max() == 0
    assert dominant_hz(x[:4000], SR) == pytest.approx(440.0, abs=4)


def test_stereo_wav_is_mixed_down(tmp_path):
    records = write_split(tmp_path, NOTES[:1])
    note = next(iter(records))
    left, right = tone(440.0), 0.5 * tone(660.0)
    stereo = np.stack([left, right])
    write_wav(tmp_path / "audio" / f"{note}.wav", stereo, SR, subtype="FLOAT")
    x = build(tmp_path).load(0)
    np.testing.assert_allclose(x.numpy(), (left + right) / 2, atol=1e-6)


def test_truncated_examples_json_is_one_clear_error(tmp_path):
    write_split(tmp_path)
    path = tmp_path / "examples.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(DataError) as info:
        read_examples(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert "line" in message and "column" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda r: r.update(pitch="60"), r"field 'pitch' must be an int, got \"60\""),
        (lambda r: r.update(velocity=True), "field 'velocity' must be an int"),
        (lambda r: r.pop("instrument_str"), "missing field.*instrument_str"),
        (lambda r: r.update(instrument_family_str=3), "'instrument_family_str' must be a string"),
        (lambda r: r.update(qualities=[0, 1]), "'qualities' must be a list of 10 ints"),
        (lambda r: r.update(qualities_str="bright"), "'qualities_str' must be a list of strings"),
        (lambda r: r.update(note_str="other-060-100"), "key differs from the record's note_str"),
    ],
)
def test_malformed_record_names_file_note_and_field(tmp_path, edit, expected):
    records = write_split(tmp_path)
    note = sorted(records)[2]
    edit(records[note])
    write_examples(tmp_path, records)
    with pytest.raises(DataError, match=expected) as info:
        read_examples(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "examples.json") in message and repr(note) in message


def test_top_level_must_be_an_object(tmp_path):
    (tmp_path / "examples.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="expected a JSON object mapping note_str"):
        read_examples(tmp_path)


def test_missing_folder_and_examples_messages(tmp_path):
    with pytest.raises(DataError) as info:
        read_examples(tmp_path / "nsynth-valid")
    message = str(info.value)
    assert message.startswith(f"NSynth split folder not found: {tmp_path / 'nsynth-valid'}")
    assert "examples.json" in message and "audiovae data synth" in message
    with pytest.raises(DataError, match="examples.json not found"):
        build(tmp_path)


G60, G64 = "guitar_acoustic_001-060-100", "guitar_acoustic_001-064-050"
B40, M72, S67 = (
    "bass_synthetic_033-040-127",
    "mallet_electronic_002-072-075",
    "synth_lead_synthetic_000-067-025",
)


@pytest.mark.parametrize(
    "filters, expected",
    [
        (NSynthFilters(families=("guitar",)), [G60, G64]),
        (NSynthFilters(exclude_families=("guitar", "bass")), [M72, S67]),
        (NSynthFilters(sources=("synthetic",)), [B40, S67]),
        (NSynthFilters(instruments=("bass_synthetic_033",)), [B40]),
        (
            NSynthFilters(exclude_instruments=("guitar_acoustic_001", "mallet_electronic_002")),
            [B40, S67],
        ),
        (NSynthFilters(pitch_min=64, pitch_max=70), [G64, S67]),
        (NSynthFilters(pitch_max=60), [B40, G60]),
        (NSynthFilters(velocities=(25, 127)), [B40, S67]),
        (NSynthFilters(families=("guitar", "bass"), velocities=(100, 127)), [B40, G60]),
    ],
)
def test_filters(tmp_path, filters, expected):
    write_split(tmp_path)
    clips = build(tmp_path, filters=filters)
    assert clips.ids == expected
    assert clips.fingerprint["filters"]["pitch_min"] == filters.pitch_min
    assert clips.info["notes_in_split"] == len(NOTES)


def test_filter_errors(tmp_path):
    with pytest.raises(DataError, match="unknown name.*'gitar'.*valid: bass, brass"):
        NSynthFilters(families=("gitar",))
    with pytest.raises(DataError, match="exclude_families"):
        NSynthFilters(exclude_families=("drums",))
    with pytest.raises(DataError, match="valid: acoustic, electronic, synthetic"):
        NSynthFilters(sources=("analog",))
    with pytest.raises(DataError, match="pitch_min 80 is above pitch_max 60"):
        NSynthFilters(pitch_min=80, pitch_max=60)
    assert NSynthFilters(families="guitar").families == ("guitar",)  # a bare name is one name
    write_split(tmp_path)
    with pytest.raises(DataError, match=r"no notes left after filtering 5 notes with .*vocal"):
        build(tmp_path, filters=NSynthFilters(families=("vocal",)))


def test_bad_audio_gives_clear_errors(tmp_path):
    records = write_split(tmp_path, NOTES[:3])
    short, silent, corrupt = sorted(records)
    audio = tmp_path / "audio"
    write_wav(audio / f"{short}.wav", tone(440.0, 0.01), SR)
    write_wav(audio / f"{silent}.wav", np.zeros(CLIP, dtype=np.float32), SR)
    (audio / f"{corrupt}.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    clips = build(tmp_path, min_samples=1000)
    with pytest.raises(
        DataError, match=r"too short \(160 samples at 16000 Hz, need at least 1000\)"
    ):
        clips.load(clips.ids.index(short))
    with pytest.raises(DataError, match=r"silent \(peak 0.0e\+00\)"):
        clips.load(clips.ids.index(silent))
    with pytest.raises(DataError, match=f"{corrupt}.wav: cannot decode audio") as info:
        clips.load(clips.ids.index(corrupt))
    assert "\n" not in str(info.value)


def test_fingerprint_tracks_audio_and_settings(tmp_path):
    records = write_split(tmp_path)
    first = build(tmp_path).fingerprint
    assert first == build(tmp_path).fingerprint
    assert json.loads(json.dumps(first)) == first  # JSON round trip changes nothing
    assert first["kind"] == "nsynth" and first["folder"] == str(tmp_path.resolve())
    assert build(tmp_path, clip_samples=CLIP // 2).fingerprint != first

    wav = tmp_path / "audio" / f"{sorted(records)[0]}.wav"
    stat = wav.stat()
    write_wav(wav, tone(300.0), SR)  # same size, new content
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = build(tmp_path).fingerprint
    assert second["audio"] != first["audio"]
    assert second["examples_json"] == first["examples_json"]
    # a note filtered out does not count
    assert (
        build(tmp_path, filters=NSynthFilters(families=("bass",))).fingerprint["audio"]
        == (build(tmp_path, filters=NSynthFilters(families=("bass",))).fingerprint["audio"])
    )


def test_random_crop_is_reproducible_per_note(tmp_path):
    write_split(tmp_path, NOTES[:2])
    clips = build(tmp_path, clip_samples=1000, crop="random")
    assert torch.equal(clips.load(0), clips.load(0))
    assert clips.load(0).shape == (1000,)
    with pytest.raises(ValueError, match="crop must be one of"):
        build(tmp_path, crop="middle")


def test_reads_folder_written_by_the_synth_generator(tmp_path):
    config = SynthConfig(
        pitches=(60, 62),
        families=("guitar", "mallet"),
        instruments_per_family=1,
        velocities=(100,),
        vibrato_depths=(0.0,),
        seconds=0.5,
    )
    write_nsynth_folder(tmp_path / "synth", config)
    records = {r["note_str"]: r for r in read_examples(tmp_path / "synth")}
    clips = build(tmp_path / "synth", clip_samples=8000)
    assert clips.ids == sorted(records) and len(clips) == 4
    for i, note in enumerate(clips.ids):
        for field, values in clips.labels.items():
            assert values[i] == records[note][field]
    assert sorted(set(clips.labels["instrument_family_str"])) == ["guitar", "mallet"]
    x = clips.load(0)
    assert x.shape == (8000,) and math.isfinite(float(x.abs().max()))

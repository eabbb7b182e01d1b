"""Synthetic note generator: grid, records, determinism, pitch, timbre, loudness, vibrato, files."""

from __future__ import annotations

import dataclasses
import json

import librosa
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import find_peaks

from audiovae.audio.synth import (
    FAMILY_IDS,
    QUALITY_NAMES,
    SYNTH_FAMILIES,
    TIMBRE_FIELDS,
    SynthConfig,
    instrument_timbre,
    note_table,
    render_note,
    render_notes,
    write_nsynth_folder,
)

SR = 16000
HARMONIC = ("guitar", "string", "reed", "brass", "flute", "organ", "vocal")
NSYNTH_TYPES = {
    "note": int,
    "note_str": str,
    "instrument": int,
    "instrument_str": str,
    "pitch": int,
    "velocity": int,
    "sample_rate": int,
    "qualities": list,
    "qualities_str": list,
    "instrument_family": int,
    "instrument_family_str": str,
    "instrument_source": int,
    "instrument_source_str": str,
}


def small(**kw) -> SynthConfig:
    """A small grid: every family, one instrument, pitch 60, loud, no vibrato (override by kw)."""
    base = dict(
        pitches=(60,),
        families=SYNTH_FAMILIES,
        instruments_per_family=1,
        velocities=(100,),
        vibrato_depths=(0.0,),
        seconds=0.75,
    )
    base.update(kw)
    return SynthConfig(**base)


def find(records: list[dict], family: str, k: int = 0, pitch: int = 60, velocity: int = 100,
         vibrato: float = 0.0) -> dict:  # fmt: skip
    (match,) = [
        r
        for r in records
        if r["instrument_str"] == f"{family}_synthetic_{k:03d}"
        and (r["pitch"], r["velocity"], r["vibrato"]) == (pitch, velocity, vibrato)
    ]
    return match


def median_f0(x: np.ndarray, start: int = 1600, stop: int = 11200) -> np.ndarray:
    """YIN f0 track (Hz) over the held part of a note; wide search range, no octave hints."""
    return librosa.yin(x[start:stop], fmin=50, fmax=2000, sr=SR, frame_length=2048, hop_length=128)


def log_mel(x: np.ndarray) -> np.ndarray:
    mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=1024, hop_length=256, n_mels=64)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)


# ----------------------------------------------------------------------------- grid and records


def test_default_grid_is_the_full_factorial():
    config = SynthConfig()
    records = note_table(config)
    assert len(records) == 24 * 8 * 3 * 4 * 2 == 4608
    assert len({r["note_str"] for r in records}) == len(records)
    assert len({r["note"] for r in records}) == len(records)
    assert len({r["instrument"] for r in records}) == 8 * 3
    assert len({r["instrument_str"] for r in records}) == 8 * 3
    cells = {
        (r["instrument_str"], r["pitch"], r["velocity"], r["vibrato"]) for r in records
    }  # every combination of factors exactly once
    assert len(cells) == len(records)


def test_records_hold_nsynth_fields_factors_and_timbre():
    config = small(
        pitches=(60, 62),
        families=("guitar", "mallet", "vocal"),
        instruments_per_family=2,
        velocities=(50, 100),
        vibrato_depths=(0.0, 0.4),
    )
    records = note_table(config)
    assert len(records) == 3 * 2 * 2 * 2 * 2
    for r in records:
        assert set(NSYNTH_TYPES) | {"vibrato", *TIMBRE_FIELDS} == set(r)
        for field, kind in NSYNTH_TYPES.items():
            assert isinstance(r[field], kind), field
        assert isinstance(r["vibrato"], float)
        assert all(isinstance(r[f], float) for f in TIMBRE_FIELDS)
        family, _, index = r["instrument_str"].rpartition("_synthetic_")
        assert family == r["instrument_family_str"] and len(index) == 3
        assert r["instrument_family"] == FAMILY_IDS[family]
        assert (r["instrument_source"], r["instrument_source_str"]) == (2, "synthetic")
        assert r["sample_rate"] == SR
        assert len(r["qualities"]) == 10
        on = [q for q, flag in zip(QUALITY_NAMES, r["qualities"], strict=True) if flag]
        assert r["qualities_str"] == on
        v_index = config.vibrato_depths.index(r["vibrato"])
        assert r["note_str"] == (
            f"{r['instrument_str']}-{r['pitch']:03d}-{r['velocity']:03d}-v{v_index}"
        )
    assert "percussive" in find(records, "mallet")["qualities_str"]


def test_note_str_is_nsynths_key_with_one_vibrato_depth():
    records = note_table(small(families=("reed",), vibrato_depths=(0.3,)))
    assert [r["note_str"] for r in records] == ["reed_synthetic_000-060-100"]
    assert records[0]["vibrato"] == 0.3


def test_config_validation_and_lists_become_tuples():
    config = SynthConfig(pitches=[60, 61], families=["organ"], velocities=[100])
    assert config.pitches == (60, 61) and config.families == ("organ",)
    assert hash(config) == hash(
        SynthConfig(pitches=(60, 61), families=("organ",), velocities=(100,))
    )
    bad = [
        dict(families=("bass",)),
        dict(families=()),
        dict(pitches=(60, 60)),
        dict(pitches=(60.5,)),
        dict(pitches=(120,)),  # fundamental above 0.45 * 16 kHz
        dict(velocities=(0,)),
        dict(vibrato_depths=(-0.1,)),
        dict(instruments_per_family=0),
        dict(seed=-1),
        dict(seconds=0.0),
        dict(sample_rate=100),
    ]
    for kwargs in bad:
        with pytest.raises(ValueError, match="SynthConfig"):
            SynthConfig(**kwargs)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_audio_other_seed_other_audio():
    config = small(families=("string", "mallet"), seconds=0.25)
    a = render_notes(note_table(config), config)
    b = render_notes(note_table(dataclasses.replace(config)), config)
    assert a.dtype == np.float32 and a.shape == (2, 4000)
    assert np.array_equal(a, b)
    other = small(families=("string", "mallet"), seconds=0.25, seed=1)
    c = render_notes(note_table(other), other)
    assert not np.allclose(a, c, atol=1e-3)
    timbre = [{f: r[f] for f in TIMBRE_FIELDS} for r in note_table(other)]
    assert timbre != [{f: r[f] for f in TIMBRE_FIELDS} for r in note_table(config)]


def test_an_instrument_is_the_same_sound_in_any_grid():
    wide = SynthConfig(pitches=(55, 60, 64), velocities=(50, 100), seconds=0.25)
    narrow = SynthConfig(
        pitches=(60,),
        families=("vocal", "guitar"),
        instruments_per_family=3,
        velocities=(100,),
        vibrato_depths=(0.4, 0.0),
        seconds=0.25,
    )
    for family in ("guitar", "vocal"):
        r_wide = find(note_table(wide), family, k=2)
        r_narrow = find(note_table(narrow), family, k=2)
        assert {f: r_wide[f] for f in TIMBRE_FIELDS} == instrument_timbre(family, 2, seed=0)
        assert {f: r_narrow[f] for f in TIMBRE_FIELDS} == instrument_timbre(family, 2, seed=0)
        assert r_wide["instrument"] == r_narrow["instrument"]
        assert np.array_equal(render_note(r_wide, wide), render_note(r_narrow, narrow))


# ----------------------------------------------------------------------------- sound


@pytest.mark.parametrize("family", HARMONIC)
def test_pitch_of_harmonic_families_matches_the_midi_note(family):
    config = small(pitches=(48, 60, 71), families=(family,))
    for record in note_table(config):
        f0 = float(np.median(median_f0(render_note(record, config))))
        cents = 1200 * np.log2(f0 / librosa.midi_to_hz(record["pitch"]))
        assert abs(cents) < 35, (record["note_str"], f0, cents)


def spectral_peak_ratios(x: np.ndarray, f0: float) -> np.ndarray:
    """Frequencies of the strong spectral peaks (> -40 dB) of the ringing part, divided by f0."""
    seg = x[320:6400] * np.hanning(6080)  # 20-400 ms: after the strike click
    mag = np.abs(np.fft.rfft(seg, 1 << 16))
    hz_per_bin = SR / (1 << 16)
    peaks, _ = find_peaks(mag, height=mag.max() * 1e-2, distance=int(0.5 * f0 / hz_per_bin))
    return peaks * hz_per_bin / f0


def test_mallet_partials_are_inharmonic_and_others_harmonic():
    config = small(families=("mallet", "organ"), instruments_per_family=3)
    f0 = librosa.midi_to_hz(60)
    for record in note_table(config):
        ratios = spectral_peak_ratios(render_note(record, config), f0)
        assert abs(ratios[0] - 1) < 0.02, ratios  # the fundamental is the key's pitch
        overtones = ratios[1:]
        assert len(overtones) >= 2, (record["note_str"], ratios)
        off_integer = np.abs(overtones - np.round(overtones))
        if record["instrument_family_str"] == "mallet":  # free bar: 2.76, 5.40 (then stretched)
            assert off_integer[:2].min() > 0.1, ratios
        else:
            assert off_integer.max() < 0.02, ratios


def test_loudness_grows_with_velocity_and_brightness_too():
    config = small(velocities=(25, 50, 75, 100, 127))
    records = note_table(config)
    for family in SYNTH_FAMILIES:
        notes = [find(records, family, velocity=v) for v in config.velocities]
        audio = render_notes(notes, config)
        rms = np.sqrt(np.mean(audio**2, axis=1))
        assert np.all(np.diff(rms) > 0), (family, rms)
        assert 20 * np.log10(rms[3] / rms[0]) > 12, family  # 25 -> 100: about 18 dB
        assert np.abs(audio).max() <= 0.9 + 1e-6
    brass = render_notes([find(records, "brass", velocity=v) for v in (25, 100)], config)
    centroid = librosa.feature.spectral_centroid(y=brass, sr=SR).mean(axis=-1)
    assert centroid[1] > 1.3 * centroid[0]


def test_instruments_differ_within_a_family_less_than_across_families():
    config = small(instruments_per_family=3)
    records = note_table(config)
    feats = {
        (r["instrument_family_str"], r["instrument_str"]): log_mel(x)
        for r, x in zip(records, render_notes(records, config), strict=True)
    }
    keys = list(feats)
    within, across = [], []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            dist = float(np.mean(np.abs(feats[a] - feats[b])))
            (within if a[0] == b[0] else across).append(dist)
    assert min(within) > 0.5  # audibly different instruments (mean |dB| difference)
    assert np.mean(within) < 0.5 * np.mean(across)
    for family in SYNTH_FAMILIES:  # also family by family
        own = [k for k in keys if k[0] == family]
        w = [np.mean(np.abs(feats[a] - feats[b])) for a in own for b in own if a < b]
        x = [np.mean(np.abs(feats[a] - feats[b])) for a in own for b in keys if b[0] != family]
        assert np.mean(w) < np.mean(x), family


def test_vibrato_modulates_the_frequency():
    config = small(families=("string", "vocal", "reed"), vibrato_depths=(0.0, 0.4))
    records = note_table(config)
    for family in config.families:
        spread = []
        for depth in config.vibrato_depths:
            f0 = median_f0(render_note(find(records, family, vibrato=depth), config))
            spread.append(np.std(1200 * np.log2(f0 / np.median(f0))))
        assert spread[0] < 3 < 12 < spread[1], (family, spread)  # 0.4 st sine: std ~28 cents


def test_every_note_is_finite_and_peaks_below_point_nine():
    config = small(
        pitches=(21, 60, 98), velocities=(25, 127), vibrato_depths=(0.0, 2.0), seconds=0.3
    )
    audio = render_notes(note_table(config), config)
    assert audio.shape == (8 * 3 * 2 * 2, 4800) and audio.dtype == np.float32
    assert np.isfinite(audio).all()
    peaks = np.abs(audio).max(axis=1)
    assert peaks.max() <= 0.9 and peaks.min() > 0.05


def test_no_partial_above_the_limit():
    """Partials at or above 0.45 * rate are dropped: a high organ note has no energy up there."""
    for rate in (8000, 16000):
        config = small(pitches=(72, 84), families=("organ", "reed"), sample_rate=rate)
        for record in note_table(config):
            x = render_note(record, config)[int(0.1 * rate) : int(0.7 * rate)]
            mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
            freqs = np.fft.rfftfreq(len(x), 1 / rate)
            high = mag[freqs > 0.46 * rate].max() / mag.max()
            assert high < 1e-3, (rate, record["note_str"], high)


# ----------------------------------------------------------------------------- NSynth folder


def test_write_nsynth_folder_layout(tmp_path):
    config = small(
        pitches=(60, 64), families=("guitar", "flute"), vibrato_depths=(0.0, 0.4), seconds=0.25
    )
    out = write_nsynth_folder(tmp_path / "split", config, progress=False)
    assert out == tmp_path / "split"
    text = (out / "examples.json").read_text()
    assert text.startswith('{\n    "')  # json.dump(indent=4), like NSynth's file
    examples = json.loads(text)
    records = note_table(config)
    assert examples == {r["note_str"]: r for r in records}
    for key, record in examples.items():
        assert key == record["note_str"]
        for field, kind in NSYNTH_TYPES.items():
            assert isinstance(record[field], kind), field
    wavs = sorted((out / "audio").iterdir())
    assert sorted(p.stem for p in wavs) == sorted(examples)
    assert all(p.suffix == ".wav" for p in wavs)
    for path in wavs:
        info = sf.info(str(path))
        assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
        assert (info.samplerate, info.frames) == (SR, 4000)
    record = examples[wavs[0].stem]
    data, _ = sf.read(str(wavs[0]), dtype="float32")
    assert np.abs(data - render_note(record, config)).max() <= 1.0 / 32768 + 1e-6


def test_block_phase_and_envelope_factorisation_match_a_direct_sum():
    """The fast partial sum (float32 phase blocks, factorised exps) equals the float64 formula."""
    from audiovae.audio.synth import _cycles, _tone

    rng = np.random.default_rng(0)
    n, count = 4 * SR + 77, 30  # 4 s: phases of high partials grow large
    ratios = np.arange(1, count + 1) * (1 + 1e-4 * np.arange(count) ** 2)
    phases, amps = rng.uniform(0, 2 * np.pi, count), rng.uniform(0.1, 1, count).astype(np.float32)
    attack, rate = rng.uniform(0.001, 0.2, count), rng.uniform(0.2, 20, count)
    cycles = _cycles(220.0, 0.5, 1.0, n, SR)
    t = np.arange(n) / SR
    sines = np.sin(2 * np.pi * np.outer(ratios, cycles) + phases[:, None])
    env = -np.expm1(-t / attack[:, None]) * np.exp(-rate[:, None] * t)
    direct = amps.astype(np.float64) @ (env * sines)
    fast = _tone(ratios, phases, amps, cycles, (attack, rate), SR)
    assert fast.dtype == np.float32 and fast.shape == (n,)
    assert np.abs(fast - direct).max() < 2e-5 * amps.sum()
    shared = np.exp(-t / 0.5).astype(np.float32)
    direct_shared = (amps.astype(np.float64) @ sines) * shared
    fast_shared = _tone(ratios, phases, amps, cycles, shared, SR)
    assert np.abs(fast_shared - direct_shared).max() < 2e-5 * amps.sum()

"""SoundFont renders: a tiny SF2 written here (sine samples, a few presets) rendered by FluidSynth;
pitch by FFT against the label, loader round trip, determinism across workers, bad input."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import audiovae.data.soundfont as soundfont_module
from audiovae.data.nsynth import NSYNTH_FIELDS, NSynthFilters, nsynth_clipset
from audiovae.data.soundfont import (
    NO_VOICE,
    SILENT,
    RenderSettings,
    parse_int_list,
    render_soundfont,
    to_pcm16,
)
from audiovae.data.soundfont_file import soundfont_info
from audiovae.errors import DataError

SINE_RATE, SINE_PERIOD, SINE_ROOT = 44000, 100, 69  # 440 Hz, exactly 100 samples per period

# (name, bank, program, key range, sample index): 0 sine, 1 all zeros
PRESETS = [
    ("Sine Piano", 0, 0, (0, 127), 0),
    ("Silent Thing", 0, 1, (0, 127), 1),
    ("Narrow Flute", 0, 73, (60, 72), 0),
    ("Sine Pad", 0, 88, (0, 127), 0),  # GM 88 has no NSynth family
]


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _name(text: str) -> bytes:
    return text.encode("ascii")[:19].ljust(20, b"\0")


def write_sine_soundfont(path: Path, presets=PRESETS) -> Path:
    """A valid SoundFont 2.01 (RIFF layout of the SF2 spec): a looped 440 Hz sine at root key 69,
    a silent sample, and one instrument + preset per entry of `presets`."""
    n = 4400  # 44 periods; loop [800, 4000): 32 whole periods, so the loop is seamless
    sine = np.round(16000 * np.sin(2 * np.pi * np.arange(n) / SINE_PERIOD)).astype("<i2")
    pad = np.zeros(46, "<i2")  # the spec asks for 46 zero samples after each sample
    smpl = np.concatenate([sine, pad, np.zeros(n, "<i2"), pad]).tobytes()
    shdr = b""
    for i, label in enumerate(("sine", "zero")):
        start = i * (n + 46)
        shdr += _name(label) + struct.pack(
            "<IIIIIBbHH", start, start + n, start + 800, start + 4000, SINE_RATE, SINE_ROOT, 0, 0, 1
        )
    shdr += _name("EOS") + bytes(26)
    inst = ibag = igen = phdr = pbag = pgen = b""
    for i, (name, bank, program, (lo, hi), sample) in enumerate(presets):
        inst += _name(name) + struct.pack("<H", i)
        ibag += struct.pack("<HH", 4 * i, 0)
        igen += struct.pack("<HBB", 43, lo, hi)  # keyRange (must come first)
        igen += struct.pack("<Hh", 38, -1200)  # releaseVolEnv: 0.5 s
        igen += struct.pack("<HH", 54, 1)  # sampleModes: continuous loop
        igen += struct.pack("<HH", 53, sample)  # sampleID (must come last)
        phdr += _name(name) + struct.pack("<HHHIII", program, bank, i, 0, 0, 0)
        pbag += struct.pack("<HH", i, 0)
        pgen += struct.pack("<HH", 41, i)  # instrument
    k = len(presets)
    inst += _name("EOI") + struct.pack("<H", k)
    ibag += struct.pack("<HH", 4 * k, 0)
    igen += bytes(4)
    phdr += _name("EOP") + struct.pack("<HHHIII", 0, 0, k, 0, 0, 0)
    pbag += struct.pack("<HH", k, 0)
    pgen += bytes(4)
    info = b"INFO" + _chunk(b"ifil", struct.pack("<HH", 2, 1))
    info += _chunk(b"isng", b"EMU8000\0") + _chunk(b"INAM", b"Test Sines\0\0")  # even sizes
    sdta = b"sdta" + _chunk(b"smpl", smpl)
    pdta = b"pdta" + b"".join(
        _chunk(cid, body)
        for cid, body in [
            (b"phdr", phdr), (b"pbag", pbag), (b"pmod", bytes(10)), (b"pgen", pgen),
            (b"inst", inst), (b"ibag", ibag), (b"imod", bytes(10)), (b"igen", igen),
            (b"shdr", shdr),
        ]
    )  # fmt: skip
    body = b"sfbk" + _chunk(b"LIST", info) + _chunk(b"LIST", sdta) + _chunk(b"LIST", pdta)
    path.write_bytes(_chunk(b"RIFF", body))
    return path


SMALL = RenderSettings(pitches=(48, 57, 60, 66, 72, 84), velocities=(50, 127), seconds=1.0,
                       release=0.25)  # fmt: skip


@pytest.fixture(scope="module")
def sf2(tmp_path_factory) -> Path:
    return write_sine_soundfont(tmp_path_factory.mktemp("sf") / "sines.sf2")


@pytest.fixture(scope="module")
def rendered(sf2, tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "notes"
    return out, render_soundfont(sf2, out, SMALL, workers=1, progress=False)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    """Frequency of the largest FFT peak (Hann window, parabolic interpolation on log power)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) + 1e-12
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(x)


def test_pitch_of_every_note_matches_its_label(rendered):
    out, summary = rendered
    examples = json.loads((out / "examples.json").read_text())
    assert len(examples) == summary.notes > 0
    for name, record in examples.items():
        audio, rate = sf.read(out / "audio" / f"{name}.wav", dtype="float64")
        assert rate == 16000 and audio.shape == (16000,)
        held = audio[1600:11200]  # 0.1-0.7 s: inside the 0.75 s the key is down
        expected = 440.0 * 2 ** ((record["pitch"] - 69) / 12)
        cents = 1200 * np.log2(_peak_hz(held, rate) / expected)
        assert abs(cents) < 3, (name, cents)


def test_key_release_and_velocity(rendered):
    out, _ = rendered
    loud, _ = sf.read(out / "audio" / "keyboard_acoustic_000-060-127.wav")
    soft, _ = sf.read(out / "audio" / "keyboard_acoustic_000-060-050.wav")
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    assert rms(loud[2000:10000]) > 1.5 * rms(soft[2000:10000]) > 0
    # held 0.75 s, then a 0.5 s release: the last 0.1 s is far quieter than the sustain
    assert rms(loud[-1600:]) < 0.1 * rms(loud[2000:10000])


def test_labels_silent_and_out_of_range_notes(rendered):
    out, summary = rendered
    examples = json.loads((out / "examples.json").read_text())
    instruments = {r["instrument_str"] for r in examples.values()}
    assert instruments == {"keyboard_acoustic_000", "flute_acoustic_073"}
    assert summary.unmapped_presets == ["0:88 Sine Pad"]
    flute = sorted({r["pitch"] for r in examples.values() if r["program"] == 73})
    assert flute == [60, 66, 72]  # the preset's key range is 60-72
    dropped = {d["note_str"]: d["reason"] for d in summary.dropped}
    assert dropped["flute_acoustic_073-048-050"] == NO_VOICE
    assert dropped["flute_acoustic_073-084-127"] == NO_VOICE
    assert dropped["keyboard_acoustic_001-060-127"] == SILENT  # program 1 plays a zero sample
    assert len(dropped) == 6 * 2 + 3 * 2  # silent program: every note; flute: 3 pitches x 2
    for name in dropped:
        assert not (out / "audio" / f"{name}.wav").exists()
    info = json.loads((out / "render_info.json").read_text())
    assert info["dropped"] == summary.dropped and info["notes"] == summary.notes
    record = examples["flute_acoustic_073-066-127"]
    assert record["instrument_family_str"] == "flute" and record["instrument_family"] == 2
    assert record["instrument_source_str"] == "acoustic" and record["instrument_source"] == 0
    assert record["preset_name"] == "Narrow Flute" and record["soundfont"] == "sines.sf2"
    assert record["qualities"] == [0] * 10 and record["qualities_str"] == []


def test_render_info_records_the_soundfont(sf2, rendered):
    out, _ = rendered
    info = json.loads((out / "render_info.json").read_text())
    assert info["soundfont"]["sha256"] == hashlib.sha256(sf2.read_bytes()).hexdigest()
    assert info["soundfont"]["version"] == "2.01" and info["soundfont"]["name"] == "Test Sines"
    assert info["renderer"]["fluidsynth"].startswith("2.")
    assert info["settings"]["reverb"] is False and info["settings"]["chorus"] is False
    assert info["settings"]["render_rate"] == 48000


def test_checksums_match_the_files(rendered):
    out, summary = rendered
    lines = (out / "checksums.sha256").read_text().splitlines()
    assert len(lines) == summary.notes + 2
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


def test_the_nsynth_loader_reads_every_label(rendered):
    out, _ = rendered
    examples = json.loads((out / "examples.json").read_text())
    clips = nsynth_clipset(out, sample_rate=16000, clip_samples=16000)
    assert sorted(clips.ids) == sorted(examples)
    expected = set(NSYNTH_FIELDS) - {"note_str"} | {"soundfont", "bank", "program", "preset_name"}
    assert set(clips.labels) == expected
    for i, name in enumerate(clips.ids):
        for key, values in clips.labels.items():
            assert values[i] == examples[name][key]
    audio, _ = sf.read(out / "audio" / f"{clips.ids[0]}.wav", dtype="float32")
    np.testing.assert_allclose(clips.load(0).numpy(), audio, atol=1e-6)
    no_flute = NSynthFilters(exclude_instruments=("flute_acoustic_073",))
    held = nsynth_clipset(out, sample_rate=16000, clip_samples=16000, filters=no_flute)
    assert set(held.labels["instrument_str"]) == {"keyboard_acoustic_000"}


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_identical_bytes_across_runs_and_workers(sf2, rendered, tmp_path):
    out, _ = rendered
    again = tmp_path / "two"
    render_soundfont(sf2, again, SMALL, workers=2, progress=False)
    assert _folder_bytes(again) == _folder_bytes(out)
    # a different order of work (one pitch at a time, reversed) gives the same notes
    alone = tmp_path / "one"
    render_soundfont(sf2, alone, RenderSettings(pitches=(72,), velocities=(127,), seconds=1.0,
                                                release=0.25), progress=False)  # fmt: skip
    for name in ("keyboard_acoustic_000-072-127.wav", "flute_acoustic_073-072-127.wav"):
        assert (alone / "audio" / name).read_bytes() == (out / "audio" / name).read_bytes()


def test_non_empty_out_needs_force_and_force_replaces(sf2, tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty.*--force"):
        render_soundfont(sf2, out, SMALL, progress=False)
    (out / "audio").mkdir()
    (out / "audio" / "old-060-100.wav").write_bytes(b"stale")
    one = RenderSettings(pitches=(60,), velocities=(100,), seconds=0.5, release=0.1, programs=(0,))
    summary = render_soundfont(sf2, out, one, force=True, progress=False)
    assert summary.notes == 1 and summary.removed_stale == 1
    names = sorted(p.name for p in (out / "audio").iterdir())
    assert names == ["keyboard_acoustic_000-060-100.wav"]
    assert (out / "keep.txt").read_text() == "mine"


def test_bad_soundfont_files(tmp_path):
    with pytest.raises(DataError, match="SoundFont file not found"):
        render_soundfont(tmp_path / "missing.sf2", tmp_path / "o", SMALL, progress=False)
    wav = tmp_path / "tone.sf2"
    sf.write(wav, np.zeros(100), 16000, format="WAV")
    with pytest.raises(DataError, match="not a SoundFont.*sfbk"):
        render_soundfont(wav, tmp_path / "o", SMALL, progress=False)
    text = tmp_path / "notes.sf2"
    text.write_text("hello")
    with pytest.raises(DataError, match="not a SoundFont"):
        soundfont_info(text)
    cut = tmp_path / "cut.sf2"
    full = write_sine_soundfont(tmp_path / "full.sf2").read_bytes()
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match="pdta.*truncated"):
        soundfont_info(cut)
    assert not (tmp_path / "o").exists()  # nothing is written for a bad file


def test_bad_programs_and_families(sf2, tmp_path):
    with pytest.raises(DataError, match="no preset for program 5 in bank 0.*0-1,73,88"):
        render_soundfont(sf2, tmp_path / "a", RenderSettings(programs=(5,)), progress=False)
    with pytest.raises(DataError, match=r"program 88 \(Pad 1 \(new age\)\) has no NSynth family"):
        render_soundfont(sf2, tmp_path / "b", RenderSettings(programs=(88,)), progress=False)
    with pytest.raises(DataError, match="no preset in bank 128"):
        render_soundfont(sf2, tmp_path / "c", RenderSettings(bank=128), progress=False)
    with pytest.raises(DataError, match="unknown family drums"):
        RenderSettings(families=("drums",))
    with pytest.raises(DataError, match="no preset of bank 0 left"):
        render_soundfont(sf2, tmp_path / "d", RenderSettings(families=("brass",)), progress=False)
    with pytest.raises(DataError, match="every note was silent"):
        silent = RenderSettings(programs=(1,), pitches=(48, 60), velocities=(100,), release=0.5)
        render_soundfont(sf2, tmp_path / "e", silent, progress=False)
    with pytest.raises(DataError, match="release"):
        RenderSettings(seconds=1.0, release=1.0)


def test_parse_int_list():
    assert parse_int_list("21-27:3", "p") == (21, 24, 27)
    assert parse_int_list("60, 48,60,0-1", "p") == (0, 1, 48, 60)
    for bad, why in [("x", "cannot read"), ("9-3", "empty range"), ("1-2:0", "empty range"),
                     ("120-130", "128 is outside 0-127"), ("", "no values")]:  # fmt: skip
        with pytest.raises(DataError, match=why):
            parse_int_list(bad, "p")


def test_to_pcm16_resamples_and_flags_clipping():
    settings = RenderSettings(sample_rate=16000, seconds=0.5, release=0.1)
    t = np.arange(24000) / 48000
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    pcm, clipped = to_pcm16(np.stack([tone, tone]).astype(np.float32), settings)
    reference = np.round(0.5 * 32767 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 16000))
    assert pcm.dtype == np.int16 and pcm.shape == (8000,) and not clipped
    assert np.abs(pcm[200:-200] - reference[200:-200]).max() <= 40  # filter ripple < 0.25%
    # a 10 kHz tone in the 48 kHz render is above the output's 8 kHz Nyquist: filtered out
    alias = 0.5 * np.sin(2 * np.pi * 10000 * t)
    quiet, _ = to_pcm16(np.stack([alias, alias]).astype(np.float32), settings)
    assert np.abs(quiet[200:-200]).max() < 0.01 * 32767
    _, clipped = to_pcm16(np.full((2, 24000), 1.5, np.float32), settings)
    assert clipped


def test_interrupt_leaves_only_complete_notes(sf2, tmp_path, monkeypatch):
    real, calls = soundfont_module.wav_bytes, []

    def interrupted(pcm, rate):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(pcm, rate)

    monkeypatch.setattr(soundfont_module, "wav_bytes", interrupted)
    out = tmp_path / "notes"
    with pytest.raises(KeyboardInterrupt):
        render_soundfont(sf2, out, SMALL, progress=False)
    names = sorted(p.name for p in (out / "audio").iterdir())
    assert len(names) == 3 and not (out / "examples.json").exists()
    for name in names:
        audio, rate = sf.read(out / "audio" / name)
        assert audio.shape == (16000,) and rate == 16000


def test_cli_renders_and_reports_errors(sf2, tmp_path):
    from audiovae.cli import main

    out = tmp_path / "notes"
    result = CliRunner().invoke(main, [
        "data", "soundfont", str(sf2), "-o", str(out), "--pitches", "48-72:12",
        "--velocities", "100", "--seconds", "0.5", "--release", "0.1", "--workers", "2",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 5 notes of 2 instruments" in result.output
    assert "dropped 4 notes" in result.output and "no voice" in result.output
    assert "skipped 1 presets with no NSynth family: 0:88 Sine Pad" in result.output
    assert len(json.loads((out / "examples.json").read_text())) == 5
    again = CliRunner().invoke(main, ["data", "soundfont", str(sf2), "-o", str(out)])
    assert again.exit_code == 2 and "error:" in again.output and "--force" in again.output
    bad = CliRunner().invoke(main, ["data", "soundfont", str(sf2), "-o", str(tmp_path / "x"),
                                    "--pitches", "60-200"])  # fmt: skip
    assert bad.exit_code == 2 and "--pitches: 128 is outside 0-127" in bad.output


def test_recipe_holds_out_the_highest_program_of_each_family():
    from audiovae.data.soundfont import Instrument
    from audiovae.data.soundfont_families import GM_PROGRAMS
    from audiovae.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "soundfont.yaml")
    highest = {row.family: row for row in GM_PROGRAMS if row.family}  # table is in program order
    names = {
        Instrument(0, r.program, "", r.family, r.source).instrument_str for r in highest.values()
    }
    assert set(recipe.data.filters.exclude_instruments) == names and len(names) == 11
    assert recipe.data.kind == "nsynth" and recipe.data.train == "data/soundfont/notes"


def test_recipe_trains_on_a_render(rendered, tmp_path):
    from audiovae.recipe import load_recipe
    from audiovae.train.trainer import train

    out, _ = rendered
    sets = [f"data.train={out}", "data.clip_seconds=0.496", f"features.cache_dir={tmp_path}",
            "model.channels=[8, 16]", "model.latent_dim=4", "train.max_steps=2",
            "train.batch_size=8", "train.progress=false", "train.device=cpu"]  # fmt: skip
    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "soundfont.yaml", sets)
    summary = train(recipe, tmp_path / "run")
    assert summary["steps"] == 2 and np.isfinite(summary["valid"]["loss"])


def test_subspaces_recipe_is_the_soundfont_data_with_the_subspace_model():
    """recipes/subspaces_soundfont.yaml = soundfont.yaml's data and features + subspaces.yaml's
    pairs, model, objective and budget (so neither drifts from the README's measurements)."""
    from audiovae.recipe import load_recipe

    recipes = Path(__file__).resolve().parents[2] / "recipes"
    combined = load_recipe(recipes / "subspaces_soundfont.yaml").to_dict()
    sf = load_recipe(recipes / "soundfont.yaml").to_dict()
    sub = load_recipe(recipes / "subspaces.yaml").to_dict()
    assert combined["data"] == {**sf["data"], "pairs": sub["data"]["pairs"]}
    assert combined["features"] == sf["features"]
    for section in ("model", "objective", "train"):
        assert combined[section] == sub[section], section


def test_subspaces_recipe_trains_on_a_render(rendered, tmp_path):
    from audiovae.recipe import load_recipe
    from audiovae.train.trainer import train

    recipes = Path(__file__).resolve().parents[2] / "recipes"
    out, _ = rendered
    sets = [f"data.train={out}", "data.clip_seconds=0.496", f"features.cache_dir={tmp_path}",
            "model.channels=[8, 16]", "model.subspaces={pitch: 2, timbre: 2}",
            "objective.adversary_warmup_steps=1", "train.max_steps=2", "train.batch_size=8",
            "train.progress=false", "train.device=cpu"]  # fmt: skip
    summary = train(load_recipe(recipes / "subspaces_soundfont.yaml", sets), tmp_path / "run")
    assert summary["steps"] == 2 and np.isfinite(summary["valid"]["loss"])


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_render_resumes_to_the_same_bytes(sf2, rendered, tmp_path, monkeypatch,
                                                         workers):  # fmt: skip
    """Ctrl-C after some notes: the finished notes stay (logged in render_progress.jsonl, no
    examples.json); --resume renders only the rest and the folder ends byte for byte as the
    render that never stopped (the log removed)."""
    from audiovae.cli import main

    soundfont = soundfont_module
    full, summary = rendered
    out = tmp_path / "notes"
    real, calls = soundfont._render_task, []

    def stops_after_five(task):
        calls.append(task[0])
        if len(calls) > 5:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(soundfont, "_render_task", stops_after_five)
    with pytest.raises(KeyboardInterrupt):
        render_soundfont(sf2, out, SMALL, workers=1, progress=False)
    assert not (out / "examples.json").exists()
    log = (out / soundfont.PROGRESS).read_text().splitlines()
    assert json.loads(log[0])["plan"]["settings"]["pitches"] == list(SMALL.pitches)
    assert len(log) == 1 + 5  # the plan, then one line per finished note
    again = CliRunner().invoke(main, ["data", "soundfont", str(sf2), "-o", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output  # says how to go on

    monkeypatch.setattr(soundfont, "_render_task", real)
    calls.clear()
    done = render_soundfont(sf2, out, SMALL, workers=workers, resume=True, progress=False)
    assert done.resumed == 5 and done.notes == summary.notes
    assert _tree_bytes(out) == _tree_bytes(full)
    assert not (out / soundfont.PROGRESS).exists()
    with pytest.raises(DataError, match="nothing to resume .the render is complete"):
        render_soundfont(sf2, out, SMALL, resume=True, progress=False)


def test_resume_refuses_other_settings_and_a_folder_with_no_render(sf2, tmp_path, monkeypatch):
    soundfont = soundfont_module

    out = tmp_path / "notes"

    def interrupted(task):
        raise KeyboardInterrupt

    monkeypatch.setattr(soundfont, "_render_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        render_soundfont(sf2, out, SMALL, progress=False)
    other = RenderSettings(pitches=(48, 60), velocities=(50, 127), seconds=1.0, release=0.25)
    with pytest.raises(DataError, match=r"--resume with other settings .*\(pitches differ\)"):
        render_soundfont(sf2, out, other, resume=True, progress=False)
    log = out / soundfont.PROGRESS
    plan_line, *rest = log.read_text().splitlines(keepends=True)
    plan = json.loads(plan_line)
    plan["plan"]["renderer"]["soxr"] = "0.0.1"
    log.write_text(json.dumps(plan) + "\n" + "".join(rest))
    with pytest.raises(DataError, match="the renderer's versions"):
        render_soundfont(sf2, out, SMALL, resume=True, progress=False)
    log.write_text('{"plan": "x"}\n')
    with pytest.raises(DataError, match="no render plan on its first line"):
        render_soundfont(sf2, out, SMALL, resume=True, progress=False)
    with pytest.raises(DataError, match="pass one"):
        render_soundfont(sf2, out, SMALL, resume=True, force=True, progress=False)
    with pytest.raises(DataError, match="no interrupted render"):
        render_soundfont(sf2, tmp_path / "empty", SMALL, resume=True, progress=False)


def test_missing_binding_is_one_line_with_the_install_hint(monkeypatch):
    import sys

    import audiovae.data.soundfont_fluid as fluid

    monkeypatch.setattr(fluid, "_LIB", None)
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # import fails as if not installed
    with pytest.raises(DataError, match=r"FluidSynth is not available.*audiovae\[soundfont\]"):
        fluid.library()


def test_info_tolerates_an_unpadded_odd_chunk(tmp_path):
    # MuseScore_General.sf3 has an odd-sized sdta LIST with no pad byte before pdta
    info = b"LIST" + struct.pack("<I", 16) + b"INFO" + _chunk(b"ifil", struct.pack("<HH", 3, 1))
    sdta = b"LIST" + struct.pack("<I", 9) + b"sdta" + b"12345"  # odd, not padded
    pdta = b"LIST" + struct.pack("<I", 4) + b"pdta"
    body = b"sfbk" + info + sdta + pdta
    path = tmp_path / "odd.sf3"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert soundfont_info(path)["version"] == "3.01"

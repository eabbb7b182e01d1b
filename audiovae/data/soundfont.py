"""Render NSynth-format notes (examples.json + audio/*.wav) from any SoundFont with FluidSynth.

One note per (preset, pitch, velocity): key held for `seconds - release`, then released, as
NSynth's 3 s + 1 s. Labels are NSynth's fields, the family and source taken from the preset's
General MIDI program (soundfont_families), plus `soundfont`, `bank`, `program` and `preset_name`.
Every note is rendered by a fresh synth at an oversampled rate (>= 44.1 kHz, so high samples do
not alias), mixed to mono, resampled with soxr and written as 16-bit PCM; the bytes
depend only on the note, so runs, worker counts and orders give identical files (checksums.sha256).
Notes that start no voice or come out silent are dropped and reported, never written.

An interrupted render keeps its finished notes: each note's WAV is written atomically, then its
result is appended to `render_progress.jsonl` (whose first line is the render's plan: the
SoundFont's SHA-256 and the settings). `resume=True` (`--resume`) renders only the notes the log
lacks, after checking the plan is the same; the log is removed when examples.json is written, so a
resumed render ends with the same files, byte for byte, as one that never stopped.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audiovae.data.nsynth import FAMILY_NAMES, QUALITY_NAMES, SOURCE_NAMES
from audiovae.data.soundfont_families import gm_program
from audiovae.errors import DataError

MIN_RENDER_RATE = (
    44100  # FluidSynth interpolates without a low-pass: render above every sample's band
)
NSYNTH_VELOCITIES = (25, 50, 75, 100, 127)
PROGRESS = "render_progress.jsonl"  # present while a render is unfinished
NO_VOICE = "no voice (pitch or velocity outside every zone of the preset)"
SILENT = "silent (every 16-bit sample is zero)"


def parse_int_list(text: str, name: str, low: int = 0, high: int = 127) -> tuple[int, ...]:
    """'21-108:1', '60', '0-7,24,40-47:2' -> sorted unique ints in [low, high]; DataError if bad."""
    values: set[int] = set()
    for item in str(text).replace(" ", "").split(","):
        if not item:
            continue
        try:
            span, _, step = item.partition(":")
            first, dash, last = span.partition("-")
            a, b, s = int(first), int(last) if dash else int(first), int(step) if step else 1
        except ValueError:
            raise DataError(
                f"{name}: cannot read {item!r} (expected N, A-B or A-B:STEP, comma-separated)"
            ) from None
        if s <= 0 or b < a:
            raise DataError(f"{name}: {item!r} is an empty range (need A <= B and STEP >= 1)")
        values.update(range(a, b + 1, s))
    if not values:
        raise DataError(f"{name}: no values in {text!r}")
    bad = sorted(v for v in values if not low <= v <= high)
    if bad:
        raise DataError(f"{name}: {bad[0]} is outside {low}-{high}")
    return tuple(sorted(values))


@dataclass(frozen=True)
class RenderSettings:
    """What to render: pitches and velocities (MIDI), the note length and release (seconds), the
    output rate (Hz), FluidSynth's master gain, the MIDI bank, and optional program / family subsets
    (empty: every preset of the bank whose GM program has an NSynth family)."""

    pitches: tuple[int, ...] = tuple(range(21, 109))
    velocities: tuple[int, ...] = NSYNTH_VELOCITIES
    seconds: float = 4.0
    release: float = 1.0
    sample_rate: int = 16000
    gain: float = 1.0
    bank: int = 0
    programs: tuple[int, ...] = ()
    families: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("pitches", "velocities", "programs", "families"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.pitches or any(not 0 <= p <= 127 for p in self.pitches):
            raise DataError(f"pitches must be MIDI notes in 0-127, got {list(self.pitches)}")
        if not self.velocities or any(not 1 <= v <= 127 for v in self.velocities):
            raise DataError(f"velocities must be in 1-127, got {list(self.velocities)}")
        if any(not 0 <= p <= 127 for p in self.programs):
            raise DataError(f"programs must be in 0-127, got {list(self.programs)}")
        unknown = [f for f in self.families if f not in FAMILY_NAMES]
        if unknown:
            raise DataError(
                f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                f"NSynth's are {', '.join(FAMILY_NAMES)}"
            )
        if not self.seconds > 0 or not 0 <= self.release < self.seconds:
            raise DataError(
                f"need seconds > 0 and 0 <= release < seconds, got seconds={self.seconds}, "
                f"release={self.release}"
            )
        if self.sample_rate < 1000 or self.sample_rate > 192000:
            raise DataError(f"sample rate must be in 1000-192000 Hz, got {self.sample_rate}")
        if not 0 < self.gain <= 10:
            raise DataError(f"gain must be in (0, 10], got {self.gain}")
        if not 0 <= self.bank <= 128:
            raise DataError(f"bank must be in 0-128, got {self.bank}")

    @property
    def render_rate(self) -> int:
        """FluidSynth's output rate: the smallest multiple of sample_rate at or above 44.1 kHz."""
        return self.sample_rate * max(1, math.ceil(MIN_RENDER_RATE / self.sample_rate))

    @property
    def total_samples(self) -> int:
        return int(round(self.seconds * self.sample_rate))

    @property
    def held_samples(self) -> int:
        return int(round((self.seconds - self.release) * self.sample_rate))


@dataclass(frozen=True)
class Instrument:
    """A preset chosen for rendering, with its NSynth labels."""

    bank: int
    program: int
    preset_name: str
    family: str
    source: str

    @property
    def number(self) -> int:
        return self.bank * 128 + self.program

    @property
    def instrument_str(self) -> str:
        return f"{self.family}_{self.source}_{self.number:03d}"


@dataclass
class RenderSummary:
    """What a render wrote and left out (also in render_info.json) and how long it took."""

    out: Path
    notes: int
    instruments: list[str]
    dropped: list[dict[str, str]] = field(default_factory=list)
    clipped: list[str] = field(default_factory=list)
    unmapped_presets: list[str] = field(default_factory=list)
    removed_stale: int = 0
    seconds: float = 0.0
    workers: int = 1
    resumed: int = 0  # notes an earlier, interrupted run of this render had finished


def choose_instruments(presets: list, settings: RenderSettings, where: str) -> tuple[list, list]:
    """(instruments to render, 'bank:program name' of bank presets with no NSynth family).

    DataError for a requested program the bank lacks or one with no NSynth family.
    """
    in_bank = {p.program: p for p in presets if p.bank == settings.bank}
    if not in_bank:
        banks = sorted({p.bank for p in presets})
        raise DataError(f"{where}: no preset in bank {settings.bank} (banks present: {banks})")
    for program in settings.programs:
        if program not in in_bank:
            raise DataError(
                f"{where}: no preset for program {program} in bank {settings.bank} "
                f"(programs present: {_ranges(sorted(in_bank))})"
            )
        row = gm_program(program)
        if row.family is None:
            raise DataError(
                f"{where}: program {program} ({row.name}) has no NSynth family (see the GM "
                "table in audiovae/data/soundfont_families.py); leave it out of --programs"
            )
    wanted = settings.programs or tuple(sorted(in_bank))
    chosen, unmapped = [], []
    for program in wanted:
        row, preset = gm_program(program), in_bank[program]
        if row.family is None:
            unmapped.append(f"{settings.bank}:{program} {preset.name}")
        elif not settings.families or row.family in settings.families:
            chosen.append(Instrument(settings.bank, program, preset.name, row.family, row.source))
    if not chosen:
        raise DataError(
            f"{where}: no preset of bank {settings.bank} left to render with families "
            f"{list(settings.families)} and programs {list(settings.programs) or 'all'}"
        )
    return chosen, unmapped


def _ranges(values: list[int]) -> str:
    parts, start = [], None
    for i, v in enumerate(values):
        start = v if start is None else start
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts)


def note_record(instrument: Instrument, pitch: int, velocity: int, settings: RenderSettings,
                soundfont: str) -> dict[str, Any]:  # fmt: skip
    """The examples.json record of one note: NSynth's 13 fields plus soundfont, bank, program,
    preset_name."""
    name = f"{instrument.instrument_str}-{pitch:03d}-{velocity:03d}"
    return {
        "note": (instrument.number * 128 + pitch) * 128 + velocity,
        "note_str": name,
        "instrument": instrument.number,
        "instrument_str": instrument.instrument_str,
        "pitch": pitch,
        "velocity": velocity,
        "sample_rate": settings.sample_rate,
        "qualities": [0] * len(QUALITY_NAMES),
        "qualities_str": [],
        "instrument_family": FAMILY_NAMES.index(instrument.family),
        "instrument_family_str": instrument.family,
        "instrument_source": SOURCE_NAMES.index(instrument.source),
        "instrument_source_str": instrument.source,
        "soundfont": soundfont,
        "bank": instrument.bank,
        "program": instrument.program,
        "preset_name": instrument.preset_name,
    }


def to_pcm16(stereo: np.ndarray, settings: RenderSettings) -> tuple[np.ndarray, bool]:
    """Float [2, n] at render_rate -> (int16 mono at sample_rate, whether any sample clipped)."""
    import soxr  # librosa's resampler: small, fast to import, deterministic

    mono = stereo.astype(np.float64).mean(axis=0)
    if settings.render_rate != settings.sample_rate:
        mono = soxr.resample(mono, settings.render_rate, settings.sample_rate, quality="HQ")
    mono = mono[: settings.total_samples]
    scaled = np.round(mono * 32767.0)
    clipped = bool(np.abs(scaled).max(initial=0.0) > 32767)
    return np.clip(scaled, -32768, 32767).astype(np.int16), clipped


def wav_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit mono WAV file's bytes (deterministic: no timestamps in the header)."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, pcm, sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to a temporary name beside `path`, then rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# Per-process render state: (key, LoadedSoundFont, settings, audio folder). Forked workers inherit
# the parent's, so the SoundFont is loaded once; spawned workers load it in _init_worker.
_STATE: tuple | None = None


def _init_worker(path: str, sha256: str, settings: RenderSettings, audio_dir: str) -> None:
    from audiovae.data.soundfont_fluid import LoadedSoundFont

    global _STATE
    key = (path, sha256, settings.render_rate, settings.gain)
    if _STATE is None or _STATE[0] != key:
        sfont = LoadedSoundFont(path, settings.render_rate, settings.gain)
        _STATE = (key, sfont, settings, Path(audio_dir))
    else:
        _STATE = (key, _STATE[1], settings, Path(audio_dir))


def _render_task(task: tuple[str, int, int, int, int]) -> tuple[str, str | None, str, bool]:
    """Render and write one note: (note_str, None or why it was dropped, sha256, clipped)."""
    name, bank, program, pitch, velocity = task
    _, sfont, settings, audio_dir = _STATE
    factor = settings.render_rate // settings.sample_rate
    stereo = sfont.render(
        bank, program, pitch, velocity,
        held=settings.held_samples * factor, total=settings.total_samples * factor,
    )  # fmt: skip
    if stereo is None:
        return name, NO_VOICE, "", False
    pcm, clipped = to_pcm16(stereo, settings)
    if not pcm.any():
        return name, SILENT, "", False
    data = wav_bytes(pcm, settings.sample_rate)
    write_atomic(audio_dir / f"{name}.wav", data)
    return name, None, hashlib.sha256(data).hexdigest(), clipped


def _check_out(out: Path, force: bool, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    if force and resume:
        raise DataError("--force starts the render over and --resume continues it: pass one")
    unfinished = (out / PROGRESS).is_file()
    if resume and not unfinished:
        done = (out / "examples.json").is_file()
        raise DataError(
            f"{out}: nothing to resume ("
            + ("the render is complete" if done else f"no interrupted render: no {PROGRESS}")
            + ")"
        )
    if out.is_dir() and any(out.iterdir()) and not force and not resume:
        hint = "pass --resume to finish the interrupted render there, or " if unfinished else ""
        raise DataError(
            f"{out}: folder is not empty ({hint}pass --force to render into it: examples.json, "
            "checksums.sha256, render_info.json and audio/*.wav are replaced)"
        )


def _plan(settings: RenderSettings, info: dict[str, Any]) -> dict[str, Any]:
    """What a resumed render must share with the interrupted one (JSON types): the SoundFont,
    the settings and the renderer's versions (FluidSynth, soxr, ...: other versions could give
    other bytes)."""
    from audiovae.data.soundfont_fluid import fluidsynth_versions

    renderer = {**fluidsynth_versions(), **_versions()}
    return json.loads(json.dumps({"soundfont_sha256": info["sha256"],
                                  "settings": asdict(settings), "renderer": renderer}))  # fmt: skip


def _read_progress(path: Path, plan: dict[str, Any]) -> dict[str, tuple[str | None, str, bool]]:
    """The finished notes an interrupted render logged, after checking its plan is `plan`."""
    lines = path.read_text().splitlines()
    try:
        logged = json.loads(lines[0])["plan"] if lines else None
    except (ValueError, KeyError, TypeError):
        logged = None
    if not isinstance(logged, dict):
        raise DataError(f"{path}: no render plan on its first line; render again with --force")
    if logged != plan:
        keys = [k for k in plan["settings"] if logged.get("settings", {}).get(k) !=
                plan["settings"][k]]  # fmt: skip
        if logged.get("soundfont_sha256") != plan["soundfont_sha256"]:
            keys.insert(0, "the SoundFont file")
        if logged.get("renderer") != plan["renderer"]:
            keys.append(f"the renderer's versions ({logged.get('renderer')} then)")
        raise DataError(
            f"{path}: --resume with other settings than the interrupted render ("
            + ", ".join(keys or ["plan"])
            + " differ); pass the same options, or --force"
        )
    done = {}
    for line in lines[1:]:
        try:
            row = json.loads(line)
            done[row["note"]] = (row["dropped"], row["sha256"], bool(row["clipped"]))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the interruption: that note is rendered again
    return done


def render_soundfont(
    soundfont: str | Path,
    out: str | Path,
    settings: RenderSettings | None = None,
    *,
    workers: int = 1,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> RenderSummary:
    """Render the notes `settings` selects from `soundfont` into the NSynth folder `out`.

    Writes audio/<note_str>.wav, render_info.json, checksums.sha256 and, last, examples.json
    (a complete examples.json means a complete render). DataError for a missing or non-SoundFont
    file, a program the bank lacks, or a non-empty `out` without force. `resume` finishes an
    interrupted render of the same SoundFont and settings in `out`.
    """
    from audiovae.data.soundfont_file import soundfont_info

    settings = settings or RenderSettings()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DataError(f"workers must be a positive int, got {workers!r}")
    soundfont, out = Path(soundfont), Path(out)
    info = soundfont_info(soundfont)  # checks the file before anything is written
    _check_out(out, force, resume)
    started = time.perf_counter()
    try:
        _init_worker(str(soundfont), info["sha256"], settings, str(out / "audio"))
        summary = _render_all(soundfont, out, settings, info, workers, progress, resume)
    finally:
        _release_state()
    summary.seconds = time.perf_counter() - started
    return summary


def _render_all(soundfont: Path, out: Path, settings: RenderSettings, info: dict[str, Any],
                workers: int, progress: bool, resume: bool = False) -> RenderSummary:  # fmt: skip
    """render_soundfont's body, with the SoundFont loaded in _STATE."""
    from tqdm import tqdm

    from audiovae.data.soundfont_fluid import fluidsynth_versions

    sfont = _STATE[1]
    instruments, unmapped = choose_instruments(sfont.presets, settings, str(soundfont))

    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    plan = _plan(settings, info)
    results: dict[str, tuple[str | None, str, bool]] = {}
    if resume:
        results = _read_progress(out / PROGRESS, plan)
        results = {n: r for n, r in results.items()
                   if r[0] is not None or (audio_dir / f"{n}.wav").is_file()}  # fmt: skip
    else:
        write_atomic(out / PROGRESS, (json.dumps({"plan": plan}) + "\n").encode())
    for name in ("examples.json", "checksums.sha256", "render_info.json"):
        (out / name).unlink(missing_ok=True)  # a stale examples.json would look complete
    records = {}
    for inst in instruments:
        for pitch in settings.pitches:
            for velocity in settings.velocities:
                record = note_record(inst, pitch, velocity, settings, info["file"])
                records[record["note_str"]] = record
    results = {n: r for n, r in results.items() if n in records}
    resumed = len(results)
    tasks = [(name, r["bank"], r["program"], r["pitch"], r["velocity"])
             for name, r in records.items() if name not in results]  # fmt: skip
    bar = tqdm(total=len(records), initial=resumed, desc=f"render {soundfont.name}", unit="note",
               disable=not progress)  # fmt: skip
    log = open(out / PROGRESS, "a")  # noqa: SIM115 (closed in finally, after the pool)

    def finished(name: str, dropped: str | None, digest: str, clipped: bool) -> None:
        results[name] = (dropped, digest, clipped)  # its WAV is already complete on disk
        log.write(json.dumps({"note": name, "dropped": dropped, "sha256": digest,
                              "clipped": clipped}) + "\n")  # fmt: skip
        log.flush()
        bar.update()

    try:
        if workers == 1 or len(tasks) < 2:
            for task in tasks:
                finished(*_render_task(task))
        else:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            initargs = (str(soundfont), info["sha256"], settings, str(audio_dir))
            with ctx.Pool(workers, initializer=_init_worker, initargs=initargs) as pool:
                chunk = max(1, min(16, len(tasks) // (workers * 8)))
                for result in pool.imap_unordered(_render_task, tasks, chunksize=chunk):
                    finished(*result)
    finally:
        log.close()
        bar.close()
        for tmp in audio_dir.glob(".*.tmp-*"):  # a worker stopped mid-write (Ctrl-C)
            tmp.unlink(missing_ok=True)

    kept = sorted(n for n, (dropped, _, _) in results.items() if dropped is None)
    if not kept:
        raise DataError(f"{soundfont}: every note was silent; nothing written")
    keep = set(kept)
    stale = [p for p in audio_dir.glob("*.wav") if p.stem not in keep]
    for path in stale:
        path.unlink()
    summary = RenderSummary(
        out=out,
        notes=len(kept),
        instruments=sorted({records[n]["instrument_str"] for n in kept}),
        dropped=[
            {"note_str": n, "reason": results[n][0]} for n in sorted(results) if n not in keep
        ],
        clipped=[n for n in kept if results[n][2]],
        unmapped_presets=unmapped,
        removed_stale=len(stale),
        workers=workers,
        resumed=resumed,
    )
    render_info = {
        "renderer": {**fluidsynth_versions(), **_versions()},
        "soundfont": info,
        "settings": {
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()},
            "render_rate": settings.render_rate,
            "held_seconds": settings.seconds - settings.release,
            "reverb": False,
            "chorus": False,
            "mono": "mean of left and right",
            "resampler": "soxr HQ",
            "pcm": "16-bit, round to nearest, clipped at full scale",
        },
        "instruments": [
            {**asdict(i), "instrument_str": i.instrument_str, "gm_name": gm_program(i.program).name}
            for i in instruments
        ],
        "unmapped_presets": unmapped,
        "notes": len(kept),
        "dropped": summary.dropped,
        "clipped": summary.clipped,
    }
    info_bytes = (json.dumps(render_info, indent=2) + "\n").encode()
    write_atomic(out / "render_info.json", info_bytes)
    examples = {name: records[name] for name in kept}
    examples_bytes = (json.dumps(examples, indent=4) + "\n").encode()
    lines = [f"{results[n][1]}  audio/{n}.wav" for n in kept]
    lines.append(f"{hashlib.sha256(examples_bytes).hexdigest()}  examples.json")
    lines.append(f"{hashlib.sha256(info_bytes).hexdigest()}  render_info.json")
    write_atomic(out / "checksums.sha256", ("\n".join(lines) + "\n").encode())
    write_atomic(out / "examples.json", examples_bytes)  # last: its presence means complete
    (out / PROGRESS).unlink(missing_ok=True)
    return summary


def _release_state() -> None:
    """Free this process's loaded SoundFont (a large one holds hundreds of MB of samples)."""
    global _STATE
    if _STATE is not None:
        _STATE[1].close()
        _STATE = None


def _versions() -> dict[str, str]:
    import soundfile
    import soxr

    from audiovae import __version__

    return {
        "audiovae": __version__,
        "soxr": soxr.__version__,
        "libsndfile": soundfile.__libsndfile_version__,
    }

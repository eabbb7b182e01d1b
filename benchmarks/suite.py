"""The benchmark suite: every figure a ratio against a reference timed in the same run.

    python benchmarks/suite.py [--quick] [--only ROW ...] [--threads N] [--device cpu]

Rows (one function each; every one returns a dict with its table lines and its details):

    logmel          log-mel extraction, clips/s: LogMelFrontEnd called on 8 clips at a time, as
                    build_cache calls it, vs librosa.feature.melspectrogram + log clip by clip;
                    at NSynth's size (4 s, 128 mels) and the default recipe's (1.008 s, 64 mels).
    mel_to_audio    the whole mel -> audio stage at 32 iterations, batch 1: MelToAudio vs
                    librosa.feature.inverse.mel_to_audio; ms per clip, and spectral convergence
                    against the true magnitude (notes, scoring and librosa call shared with
                    bench_mel_to_audio.py).
    train_pipeline  examples/s of the real Trainer step (feature cache -> batch -> step) vs the
                    same model + objective step (forward, loss, backward, clip, AdamW) on
                    normalised batches already in memory; same batch size and model.
    train_flops     FLOPs per step (torch.utils.flop_counter: convolutions and matmuls, forward
                    and backward) x the Trainer's steps/s, over the FLOP rate of a large float32
                    torch.mm timed in the same run. Informational: a small conv net is memory-bound.
    generate        seconds of audio per second from morph's code path (model loaded once; encode
                    A and B from WAV files, decode 7 steps, mel -> audio through the command's
                    Renderer, WAV and PNG writing included) relative to real time (target 50x;
                    --run's model when given).

Command rows: each user-facing command run as a process (`python -m audiovae ...`: start-up,
file reading and writing, PNGs included), interleaved with the same job done by librosa clip by
clip, also as a process (benchmarks/librosa_jobs.py), on `cmd_notes` real notes of 4 s
(rendered from a SoundFont with FluidSynth when one is installed, else the synthetic notes; the
details say which):

    startup         `audiovae --help` and `audiovae morph --help` (target < 0.5 s each).
    cmd_resynth     `audiovae resynth NOTES --recipe recipes/nsynth.yaml` vs librosa load, mel,
                    mel_to_audio, WAV and PNG per note (target >= 5x).
    cmd_reconstruct `audiovae reconstruct RUN NOTES` vs the same librosa job at the run's front
                    end (the model's encode and decode are extra work on our side).
    cmd_morph       `audiovae morph RUN A B` (7 WAVs, all.wav, morph.png), audio s per wall s.
    cmd_extract     `audiovae extract RUN FOLDER -o F.npz` vs librosa log-mels of the same
                    files into one .npz.
    cmd_report      `audiovae report RUN` seconds, against the start-up of `audiovae --help`.

RUN is --run when given, else the default recipe's model trained for `fit_steps` steps on the
grid of notes (as row 5; timing needs no quality). `cmd_morph` is informational: as a process
its real-time factor is bound by start-up (importing torch alone takes ~2 s here, so 7 steps of
1 s notes cannot reach the 50x that row 5 measures with the model loaded).

Protocol: implementations alternate in this process (A, B, then B, A in the next round), and
each figure is the median over rounds; a ratio is the median over rounds of that round's ratio
(the pair ran back to back, so load that changes between rounds cancels; on a busy machine it
can differ from the ratio of the two medians shown beside it). Threads are set on purpose:
torch uses --threads (default: every available core) except where a row says otherwise, librosa's
BLAS is held to --librosa-blas-threads (default 1: its faster setting on 2 cores, and its spinning
worker threads would otherwise steal a core from whatever is timed next), and OMP_WAIT_POLICY is
PASSIVE unless set (as the CLI and the Makefile do). The rows' model is the default recipe's
(recipes/synthetic.yaml) at its batch size; --quick trains it on a smaller grid of notes in a
temporary cache, the full run on the recipe's own notes in the default cache folder (the cache
`make demo` builds). Every run writes benchmarks/results/bench[-quick]-<time>.json (and
latest[-quick].json when no row was left out) and prints one table.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its OpenMP threads

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DEFAULT_RECIPE = REPO / "recipes" / "synthetic.yaml"
NSYNTH_RECIPE = REPO / "recipes" / "nsynth.yaml"
if str(HERE) not in sys.path:  # bench_mel_to_audio's note set and scoring are shared with row 2
    sys.path.insert(0, str(HERE))


@dataclass(frozen=True)
class Sizes:
    """How much each row measures; FULL, QUICK and SMOKE below."""

    name: str
    rounds: int  # interleaved rounds per row; medians over them
    logmel_clips: int  # clips per implementation per round (row 1, each clip size)
    m2a_notes: int  # notes per round (row 2; 8 families, pitches across the range)
    grid: dict | None  # synthetic-note grid of rows 3-5 (None: the recipe's own 4,608 notes)
    train_steps: int  # steps per timed block (rows 3-4)
    fit_steps: int  # steps the generation model is trained (row 5; timing needs no quality)
    batch_size: int | None = None  # None: the recipe's
    mm_size: int = 2048  # side of the float32 matmul that sets the device's FLOP rate (row 4)
    cmd_notes: int = 16  # notes given to the command rows (6-10)
    cmd_note_seconds: float = 4.0  # their length
    cmd_rounds: int = 5  # interleaved rounds of each command row (every round starts processes)


FULL = Sizes("full", rounds=9, logmel_clips=64, m2a_notes=32, grid=None, train_steps=20,
             fit_steps=20)  # fmt: skip
QUICK_GRID = {"pitches": list(range(48, 72, 2)), "instruments_per_family": 2,
              "velocities": [50, 100], "vibrato_depths": [0.0]}  # fmt: skip  # 384 notes
QUICK = Sizes("quick", rounds=7, logmel_clips=32, m2a_notes=8, grid=QUICK_GRID, train_steps=10,
              fit_steps=5, cmd_notes=4, cmd_rounds=1)  # fmt: skip
SMOKE_GRID = {"pitches": [60, 67], "families": ["guitar", "organ"], "instruments_per_family": 1,
              "velocities": [50, 100], "vibrato_depths": [0.0]}  # fmt: skip  # 8 notes
SMOKE = Sizes("smoke", rounds=1, logmel_clips=2, m2a_notes=1, grid=SMOKE_GRID, train_steps=1,
              fit_steps=2, batch_size=4, mm_size=128, cmd_notes=1, cmd_note_seconds=1.0,
              cmd_rounds=1)  # fmt: skip


@dataclass
class Settings:
    """Thread counts and device every row uses (recorded with the results)."""

    threads: int = 2
    librosa_blas_threads: int = 1
    device: str = "cpu"
    shape: str = "default"  # rows 3-5: "default" (recipes/synthetic.yaml) or "nsynth"
    run: Path | None = None  # command rows: this trained run folder (default: train a tiny one)
    soundfont: Path | None = None  # command rows' notes (default: TimGM6mb if installed)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int, warmup: bool = True) -> dict:
    """Seconds per call of each fn, interleaved for `rounds` rounds after one warm-up call each:
    {name: [seconds, ...]}. Odd rounds run in reverse order (A, B, B, A, A, B, ...), so no
    implementation always runs right after the same neighbour."""
    if warmup:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        for name in list(fns)[:: -1 if r % 2 else 1]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def round_ratio(times: dict[str, list[float]], ours: str, reference: str) -> float:
    """Median over rounds of reference seconds / ours seconds: the speed-up of `ours` when both
    do the same work. Each round's pair ran back to back, so load that changes between rounds
    cancels; it can differ from the ratio of the two medians."""
    return median([r / o for o, r in zip(times[ours], times[reference], strict=True)])


def line(label: str, ours: float, reference: float, unit: str, ratio: float, target: str,
         met: bool | None, ref_label: str) -> dict:  # fmt: skip
    """One table line: figures, their unit, the ratio, the target and whether it is met."""
    return {"label": label, "ours": ours, "reference": reference, "unit": unit, "ratio": ratio,
            "target": target, "met": met, "reference_is": ref_label}  # fmt: skip


# --------------------------------------------------------------------------- 1. log-mel
LOGMEL_SIZES = {"nsynth 4 s, 128 mels": (4.0, 128), "recipe 1.008 s, 64 mels": (1.008, 64)}
CACHE_BUILD_CALL = 8  # clips per front-end call in build_cache (its batch_size default)


def logmel(sizes: Sizes, settings: Settings, workspace: Workspace | None = None) -> dict:
    """Row 1: log-mel clips/s, ours (calls of 8 clips, as build_cache) vs librosa clip by clip."""
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(0)
    lines, details = [], {}
    for label, (seconds, n_mels) in LOGMEL_SIZES.items():
        audio = 0.1 * rng.standard_normal((sizes.logmel_clips, int(16000 * seconds)))
        detail = _logmel_one_size(audio.astype(np.float32), n_mels, sizes.rounds, settings)
        rate = detail["clips_per_s"]
        ratio = round_ratio(detail["seconds_per_round"], "ours", "librosa")
        lines.append(
            line(f"log-mel, {label}", rate["ours"], rate["librosa"], "clips/s", ratio, ">= 3x",
                 ratio >= 3.0, "librosa melspectrogram")
        )  # fmt: skip
        details[label] = detail
    settings_used = {
        "torch_threads": settings.threads,
        "librosa_blas_threads": settings.librosa_blas_threads,
    }
    return {"lines": lines, "details": details, "settings": settings_used}


def _logmel_one_size(audio: np.ndarray, n_mels: int, rounds: int, settings: Settings) -> dict:
    """Interleaved clips/s of ours, librosa, and librosa with its filterbank built once."""
    import librosa
    from threadpoolctl import threadpool_limits

    from audiovae.features.logmel import LogMelFrontEnd

    sr, n_fft, hop = 16000, 1024, 256
    fe = LogMelFrontEnd(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, f_max=8000.0)
    batch = torch.from_numpy(audio)
    kwargs = dict(sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmax=8000.0)
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=8000.0)
    blas = settings.librosa_blas_threads

    def ours() -> np.ndarray:
        with torch.inference_mode():
            calls = range(0, len(batch), CACHE_BUILD_CALL)
            return np.concatenate([fe(batch[i : i + CACHE_BUILD_CALL]).numpy() for i in calls])

    def ours_1_thread() -> None:
        torch.set_num_threads(1)
        ours()
        torch.set_num_threads(settings.threads)

    def reference() -> np.ndarray:
        with threadpool_limits(limits=blas, user_api="blas"):
            mels = [
                librosa.feature.melspectrogram(y=y, pad_mode="constant", **kwargs) for y in audio
            ]
            return np.log(np.maximum(np.stack(mels), 1e-5))

    def reference_prebuilt() -> None:  # librosa's own steps with the filterbank built once
        with threadpool_limits(limits=blas, user_api="blas"):
            for y in audio:
                spec = librosa.stft(y, n_fft=n_fft, hop_length=hop, pad_mode="constant")
                np.log(np.maximum(basis @ (np.abs(spec) ** 2), 1e-5))

    err = float(np.abs(ours() - reference()).max())
    fns = {"librosa": reference, "ours": ours, "librosa_prebuilt_filterbank": reference_prebuilt,
           "ours_1_thread": ours_1_thread}  # fmt: skip
    times = interleaved(fns, rounds)
    rate = {k: len(audio) / median(v) for k, v in times.items()}
    return {
        "clips_per_s": rate,
        "ratio_vs_librosa_prebuilt_filterbank": round_ratio(
            times, "ours", "librosa_prebuilt_filterbank"
        ),
        "ratio_1_thread": round_ratio(times, "ours_1_thread", "librosa"),
        "max_abs_log_error": err,
        "seconds_per_round": times,
        "clips": len(audio),
        "clip_seconds": audio.shape[1] / sr,
        "clips_per_call": CACHE_BUILD_CALL,
        "frontend_chunk_samples": fe.chunk_samples,
    }


# --------------------------------------------------------------------- 2. mel -> audio
def mel_to_audio(sizes: Sizes, settings: Settings, workspace: Workspace | None = None) -> dict:
    """Row 2: the mel -> audio stage at 32 iterations, batch 1, vs librosa: time and SC.

    Ours runs with ONE torch thread: clip by clip the stage is many small ops, which a second
    thread does not speed up and which, with OMP_WAIT_POLICY=PASSIVE, pay a thread wake-up each
    (bench_mel_to_audio.py's docstring: ~11 vs ~27 ms per clip). The 2-thread figure is kept in
    the details."""
    import bench_mel_to_audio as m2a

    from audiovae.features.logmel import LogMelFrontEnd
    from audiovae.phase.stage import MelToAudio

    per_family = max(1, math.ceil(sizes.m2a_notes / 8))
    audio_np, records = m2a.pick_notes(per_family)
    order = np.argsort([i % per_family for i in range(len(records))], kind="stable")
    audio_np = audio_np[order][: sizes.m2a_notes]  # one note of every family first
    fe = LogMelFrontEnd(sample_rate=m2a.SR, n_fft=m2a.N_FFT, hop_length=m2a.HOP,
                        n_mels=m2a.N_MELS)  # fmt: skip
    audio = torch.from_numpy(audio_np)
    with torch.inference_mode():
        logmel_t = fe(audio)
        mel_np = fe.mel_power(audio).numpy()
    true_mag = m2a.stft_mag(audio, fe.window)
    stage = MelToAudio(fe, n_iter=m2a.N_ITER)
    outputs: dict[str, torch.Tensor] = {}

    def ours(threads: int) -> Callable[[], None]:
        def run() -> None:
            torch.set_num_threads(threads)
            outputs["ours"] = m2a.run_ours(stage, logmel_t, 1)
            torch.set_num_threads(settings.threads)

        return run

    def reference() -> None:
        outputs["librosa"] = torch.from_numpy(
            m2a.run_librosa(mel_np, settings.librosa_blas_threads)
        )

    m2a.run_ours(stage, logmel_t[:1], 1)  # warm-ups on one clip
    m2a.run_librosa(mel_np[:1], settings.librosa_blas_threads)
    fns = {"librosa": reference, "ours": ours(1), "ours_2_threads": ours(2)}
    times = interleaved(fns, sizes.rounds, warmup=False)
    n = len(audio_np)
    ms = {k: 1e3 * median(v) / n for k, v in times.items()}
    quality = {k: m2a.scores(true_mag, outputs[k], fe.window) for k in ("librosa", "ours")}
    speedup = round_ratio(times, "ours", "librosa")
    sc_ratio = quality["ours"]["sc"] / quality["librosa"]["sc"]
    lines = [
        line("mel -> audio, batch 1, 32 iters", ms["ours"], ms["librosa"], "ms/clip", speedup,
             ">= 8x", speedup >= 8.0, "librosa mel_to_audio"),
        line("mel -> audio, spectral convergence", quality["ours"]["sc"], quality["librosa"]["sc"],
             "SC", sc_ratio, "<= 0.45x", sc_ratio <= 0.45, "librosa mel_to_audio"),
    ]  # fmt: skip
    details = {
        "ms_per_clip": ms,
        "speedup_2_threads": round_ratio(times, "ours_2_threads", "librosa"),
        "quality": {k: {"sc": q["sc"], "lsd_db": q["lsd_db"]} for k, q in quality.items()},
        "notes": n,
        "clip_seconds": 1.0,
        "n_mels": m2a.N_MELS,
        "gl_iterations": m2a.N_ITER,
        "seconds_per_round": times,
    }
    settings_used = {"torch_threads": 1, "librosa_blas_threads": settings.librosa_blas_threads}
    return {"lines": lines, "details": details, "settings": settings_used}


# ------------------------------------------------------------ shared set-up of rows 3-5
@dataclass
class Workspace:
    """A temporary folder and the trainers rows 3-5 share, each built on first use."""

    root: Path
    sizes: Sizes
    settings: Settings
    _memo: dict = field(default_factory=dict)

    def recipe(self, max_steps: int):
        """The default recipe with this run's grid, batch size, threads, device and cache."""
        from audiovae.recipe import load_recipe, recipe_from_dict

        tree = load_recipe(DEFAULT_RECIPE).to_dict()
        if self.settings.shape == "nsynth":  # NSynth's clips, features, model and batch on
            nsynth = load_recipe(NSYNTH_RECIPE).to_dict()  # the synthetic notes (no download)
            tree["data"]["clip_seconds"] = nsynth["data"]["clip_seconds"]
            tree["features"] = {**nsynth["features"], "cache_dir": tree["features"]["cache_dir"]}
            tree["model"] = nsynth["model"]
            tree["train"]["batch_size"] = nsynth["train"]["batch_size"]
        if self.sizes.grid is not None:
            tree["data"]["synthetic"].update(self.sizes.grid)
            tree["features"]["cache_dir"] = str(self.root / "cache")
        tree["train"].update(max_steps=max_steps, num_threads=self.settings.threads,
                             device=self.settings.device, progress=False,
                             checkpoint_every=10**6, log_every=10**6)  # fmt: skip
        if self.sizes.batch_size:
            tree["train"]["batch_size"] = self.sizes.batch_size
        return recipe_from_dict(tree, "benchmark recipe")

    def trainer(self):
        """A Trainer on the default recipe (its caches built), for timing train_step."""
        if "trainer" not in self._memo:
            from audiovae.train.trainer import Trainer

            self._memo["trainer"] = Trainer(self.recipe(10**6), self.root / "run-timing")
        return self._memo["trainer"]

    def trained_run(self) -> Path:
        """A run folder of the default recipe's model trained for a few steps."""
        if "run" not in self._memo:
            from audiovae.train.trainer import Trainer

            out = self.root / "run-generate"
            Trainer(self.recipe(self.sizes.fit_steps), out).fit()
            self._memo["run"] = out
        return self._memo["run"]

    def sync(self) -> None:
        if self.settings.device.startswith("cuda"):
            torch.cuda.synchronize()


def _reference_step(trainer):
    """The trainer's model + objective step on in-memory batches: (step function, the batches,
    the model and objective it steps).

    A deep copy of the model, objective and optimiser, so the two loops do not share state; the
    batches are the trainer's own first batches, read, windowed and normalised up front."""
    model = copy.deepcopy(trainer.model).train()
    objective = copy.deepcopy(trainer.objective)
    params = list(model.parameters()) + objective.main_parameters()
    cfg = trainer.cfg
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    frames = trainer.model_cfg.frames
    device = trainer.device
    batches = []
    for s in range(4):
        x = trainer.data.train.batch(trainer.batch_indices(s))[..., :frames]
        batches.append(model.normalizer.normalize(x.to(device)).contiguous())
    generator = torch.Generator(device=device).manual_seed(1)
    amp = trainer.amp_dtype
    counter = {"step": 0}

    def step() -> None:
        i = counter["step"]
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            out = objective(model, batches[i % len(batches)], step=i, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        counter["step"] += 1

    return step, batches, model, objective


def _blocks(workspace: Workspace, step: Callable[[], Any]) -> Callable[[], None]:
    """`train_steps` calls of step, then a device sync."""

    def run() -> None:
        for _ in range(workspace.sizes.train_steps):
            step()
        workspace.sync()

    return run


# ----------------------------------------------------------------- 3. training pipeline
def train_pipeline(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 3: examples/s of Trainer.train_step (from the feature cache) over the same step on
    batches already in memory."""
    trainer = workspace.trainer()
    torch.set_num_threads(settings.threads)
    reference, _, _, _ = _reference_step(trainer)
    times = interleaved({"trainer": _blocks(workspace, trainer.train_step),
                         "in_memory": _blocks(workspace, reference)}, sizes.rounds)  # fmt: skip
    examples = sizes.train_steps * trainer.batch_size
    rate = {k: examples / median(v) for k, v in times.items()}
    ratio = round_ratio(times, "trainer", "in_memory")
    per_round = [a / b for a, b in zip(times["in_memory"], times["trainer"], strict=True)]
    start = time.perf_counter()
    trainer.validate()  # what fit() adds once an epoch (outside the ratio; see the details)
    validate_s = time.perf_counter() - start
    epoch_s = trainer.steps_per_epoch * median(times["trainer"]) / sizes.train_steps
    model_cfg = trainer.model_cfg
    label, reference_is = "training from the feature cache", "same step, batches in memory"
    return {
        "lines": [line(label, rate["trainer"], rate["in_memory"], "examples/s", ratio, ">= 0.95",
                       ratio >= 0.95, reference_is)],
        "details": {
            "examples_per_s": rate,
            "ratio_per_round": per_round,
            "timed": "Trainer.train_step, what fit() runs each step (batch indices, cache read, "
                     "window, normalise, lr, objective, backward, grad clip, AdamW); fit()'s "
                     "logging every log_every steps, validation and checkpoints are not in it",
            "validation_seconds": validate_s,
            "validation_share_of_epoch": validate_s / (validate_s + epoch_s),
            "batch_size": trainer.batch_size,
            "steps_per_block": sizes.train_steps,
            "train_clips": int(trainer.data.train_indices.size),
            "valid_clips": int(trainer.data.valid_indices.size),
            "model": model_cfg.__dict__ | {"channels": list(model_cfg.channels)},
            "seconds_per_round": times,
        },
        "settings": {"torch_threads": settings.threads, "device": str(trainer.device)},
    }  # fmt: skip


# ------------------------------------------------------------------- 4. training FLOPs
def train_flops(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 4: the Trainer's achieved FLOP rate over a large float32 matmul's, same device."""
    from torch.utils.flop_counter import FlopCounterMode

    trainer = workspace.trainer()
    torch.set_num_threads(settings.threads)
    _, batches, model, objective = _reference_step(trainer)
    with FlopCounterMode(display=False) as counter:
        objective(model, batches[0], step=0, generator=None).loss.backward()
    flops_per_step = counter.get_total_flops()
    n = sizes.mm_size
    a, b = (torch.randn(n, n, device=trainer.device) for _ in range(2))
    c = torch.empty(n, n, device=trainer.device)
    mm_repeats = max(1, int(2e10 // (2 * n**3)))  # ~20 GFLOP a block

    def matmul() -> None:
        for _ in range(mm_repeats):
            torch.mm(a, b, out=c)
        workspace.sync()

    times = interleaved({"trainer": _blocks(workspace, trainer.train_step), "matmul": matmul},
                        sizes.rounds)  # fmt: skip
    steps_per_s = sizes.train_steps / median(times["trainer"])
    achieved = flops_per_step * steps_per_s
    peak = 2 * n**3 * mm_repeats / median(times["matmul"])
    ratio = (
        round_ratio(times, "trainer", "matmul")
        * flops_per_step
        * sizes.train_steps
        / (2 * n**3 * mm_repeats)
    )
    return {
        "lines": [line("training FLOP rate (info)", achieved / 1e9, peak / 1e9, "GFLOP/s", ratio,
                       "info", None, f"float32 mm {n}x{n}")],
        "details": {"flops_per_step": flops_per_step, "steps_per_s": steps_per_s,
                    "flops_by_op": {str(k): v for k, v in
                                    counter.get_flop_counts().get("Global", {}).items()},
                    "counted": "convolutions and matmuls, forward and backward (no elementwise, "
                               "normalisation or optimiser work)",
                    "batch_size": trainer.batch_size, "mm_size": n, "mm_repeats": mm_repeats,
                    "seconds_per_round": times},
        "settings": {"torch_threads": settings.threads, "device": str(trainer.device)},
    }  # fmt: skip


# ----------------------------------------------------------------------- 5. generation
MORPH_STEPS = 7  # `audiovae morph`'s default


def write_note_wavs(folder: Path, recipe) -> tuple[Path, Path]:
    """Two notes of the recipe's grid, far apart (first and last note), as WAV files."""
    from audiovae.audio.io import write_wav
    from audiovae.audio.synth import note_table, render_note
    from audiovae.data.sources import synth_config

    config = synth_config(recipe.data)
    table = note_table(config)
    paths = []
    for name, note in (("a", table[0]), ("b", table[-1])):
        paths.append(write_wav(folder / f"{name}.wav", render_note(note, config),
                               config.sample_rate, subtype="FLOAT"))  # fmt: skip
    return paths[0], paths[1]


def morph_once(vae, a: Path, b: Path, out: Path, steps: int = MORPH_STEPS) -> dict[str, float]:
    """What `audiovae morph MODEL A B -o OUT` does after loading the model, its PNG included:
    returns seconds per phase."""
    from audiovae.generate.latents import interpolate
    from audiovae.generate.render import Renderer, encode_first_window, write_morph
    from audiovae.plots import plot_spectrogram_grid

    # the steps of audiovae.generate.operations.morph (what the command calls), one by one
    t0 = time.perf_counter()
    z_a, z_b = encode_first_window(vae, a), encode_first_window(vae, b)
    t1 = time.perf_counter()
    logmels = vae.decode(interpolate(z_a, z_b, steps, "linear"))
    t2 = time.perf_counter()
    waves = Renderer.of(vae)(logmels, vae.clip_samples)  # as the command: CPU batches on threads
    t3 = time.perf_counter()
    write_morph(waves, out, vae.sample_rate)
    t4 = time.perf_counter()
    cols = [f"{i / (steps - 1):.2f}" for i in range(steps)]
    plot_spectrogram_grid(logmels[None].cpu(), out / "morph.png", col_labels=cols,
                          title=f"{a.name} -> {b.name} (linear)")  # fmt: skip
    t5 = time.perf_counter()
    return {"encode": t1 - t0, "decode": t2 - t1, "to_audio": t3 - t2, "write_wavs": t4 - t3,
            "write_png": t5 - t4}  # fmt: skip


def generate(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 5: seconds of morph audio per second of wall time (the reference is real time)."""
    from audiovae.api import AudioVAE

    run = settings.run or workspace.trained_run()
    torch.set_num_threads(settings.threads)
    vae = AudioVAE.load(run, device=settings.device)
    a, b = write_note_wavs(workspace.root, workspace.recipe(1))
    out = workspace.root / "morph"
    phases: dict[str, list[dict[str, float]]] = {"morph": [], "morph_1_thread": []}

    def morph(threads: int, key: str) -> Callable[[], None]:
        def run() -> None:
            torch.set_num_threads(threads)
            phases[key].append(morph_once(vae, a, b, out))
            workspace.sync()
            torch.set_num_threads(settings.threads)

        return run

    fns = {"morph": morph(settings.threads, "morph"), "morph_1_thread": morph(1, "morph_1_thread")}
    times = interleaved(fns, max(sizes.rounds, 3))
    audio_seconds = MORPH_STEPS * vae.clip_samples / vae.sample_rate
    rtf = audio_seconds / median(times["morph"])
    by_phase = {
        key: {k: median([p[k] for p in timed[1:]]) for k in timed[0]}  # [0] is the warm-up
        for key, timed in phases.items()
    }
    return {
        "lines": [line("morph, audio s per wall s", rtf, 1.0, "x real time", rtf, ">= 50x",
                       rtf >= 50.0, "real time")],
        "details": {"audio_seconds_per_morph": audio_seconds, "steps": MORPH_STEPS,
                    "seconds_per_morph": times,
                    "real_time_factor_1_thread": audio_seconds / median(times["morph_1_thread"]),
                    "median_seconds_by_phase": by_phase,
                    "wav_writing": "included (7 step WAVs + morph_all.wav, PCM_16)",
                    "png_writing": "included (morph.png)",
                    "inputs": "two synthetic notes as float WAVs",
                    "run": str(run)},
        "settings": {"torch_threads": settings.threads, "device": settings.device},
    }  # fmt: skip


# ------------------------------------------------------------ 6-11. commands as processes
SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")  # Debian timgm6mb-soundfont
GM_PROGRAMS = [0, 4, 11, 16, 24, 27, 32, 40, 42, 48, 56, 60, 65, 68, 73, 80]  # 16 families
COMMAND_RECIPE = NSYNTH_RECIPE  # resynth's front end: 16 kHz, 4 s, 128 mels (as issue #16)


def render_soundfont_notes(folder: Path, count: int, seconds: float, soundfont: Path,
                           sample_rate: int = 16000) -> list[Path]:  # fmt: skip
    """`count` notes of `seconds` from General MIDI programs of `soundfont`, pitches spread over
    two octaves, held for 3/4 of the note, as 16-bit WAVs. A fresh synth per note (replaying
    notes on one synth carries voice state from note to note)."""
    import fluidsynth

    from audiovae.audio.io import write_wav

    frames = int(round(seconds * sample_rate))
    held = int(frames * 0.75)
    paths = []
    for i in range(count):
        program, pitch = GM_PROGRAMS[i % len(GM_PROGRAMS)], 48 + (i * 7) % 25
        synth = fluidsynth.Synth(samplerate=float(sample_rate), gain=0.5)
        try:
            font = synth.sfload(str(soundfont))
            synth.program_select(0, font, 0, program)
            synth.noteon(0, pitch, 100)
            first = np.asarray(synth.get_samples(held), dtype=np.float32)
            synth.noteoff(0, pitch)
            rest = np.asarray(synth.get_samples(frames - held), dtype=np.float32)
        finally:
            synth.delete()
        stereo = np.concatenate([first, rest]).reshape(-1, 2) / 32768.0
        mono = stereo.mean(axis=1)
        mono *= 0.9 / max(float(np.abs(mono).max()), 1e-6)
        paths.append(write_wav(folder / f"gm{program:03d}_{pitch:03d}.wav", mono, sample_rate))
    return paths


def render_synthetic_notes(folder: Path, count: int, seconds: float) -> list[Path]:
    """`count` notes of `seconds` spread over the default recipe's synthetic grid, as WAVs
    (what `audiovae data synth --set data.clip_seconds=...` writes)."""
    from audiovae.audio.io import write_wav
    from audiovae.audio.synth import note_table, render_note
    from audiovae.data.sources import synth_config
    from audiovae.recipe import load_recipe

    recipe = load_recipe(DEFAULT_RECIPE, [f"data.clip_seconds={seconds}"])
    config = synth_config(recipe.data)
    table = note_table(config)
    picks = np.linspace(0, len(table) - 1, count).round().astype(int)
    return [write_wav(folder / f"{table[i]['note_str']}.wav", render_note(table[i], config),
                      config.sample_rate) for i in picks]  # fmt: skip


def command_notes(workspace: Workspace) -> tuple[list[Path], str]:
    """The command rows' notes (rendered once): (paths, where they came from)."""
    if "notes" not in workspace._memo:
        folder = workspace.root / "notes"
        folder.mkdir(parents=True, exist_ok=True)
        sizes, font = workspace.sizes, workspace.settings.soundfont or SOUNDFONT
        try:
            paths = render_soundfont_notes(folder, sizes.cmd_notes, sizes.cmd_note_seconds, font)
            source = (
                f"SoundFont {font.name} (FluidSynth), GM programs {GM_PROGRAMS[: sizes.cmd_notes]}"
            )
        except (ImportError, OSError, RuntimeError, AttributeError) as err:
            for stale in folder.glob("*.wav"):
                stale.unlink()
            paths = render_synthetic_notes(folder, sizes.cmd_notes, sizes.cmd_note_seconds)
            source = f"synthetic notes (no SoundFont: {type(err).__name__}: {err})"
        workspace._memo["notes"] = (paths, source)
    return workspace._memo["notes"]


def command_run(workspace: Workspace) -> Path:
    """The trained run the model-driven command rows use: --run, else a tiny one trained here."""
    return workspace.settings.run or workspace.trained_run()


def _process_env() -> dict[str, str]:
    """The environment of every timed process: this tree first on the path, PASSIVE OpenMP, and
    bytecode caching on (a PYTHONDONTWRITEBYTECODE=1 in the caller's environment would make
    every round compile our modules from source, ~0.3 s a process that no installed copy pays;
    the warm-up round writes the caches)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def process(args: list[str], cpu: list[float]) -> Callable[[], None]:
    """A function that runs `python ARGS` to completion (failing loudly) and appends the CPU
    seconds it used (user + system of the child) to `cpu`."""
    import resource

    env = _process_env()

    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True,
                              text=True)  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"python {' '.join(args[:3])} ... failed: {done.stderr[-2000:]}")
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

    return run


def _front_end_args(recipe) -> list[str]:
    f = recipe.features
    return ["--sr", str(recipe.data.sample_rate), "--n-fft", str(f.n_fft), "--hop",
            str(f.hop_length), "--n-mels", str(f.n_mels), "--fmin", str(f.f_min), "--fmax",
            str(f.f_max or recipe.data.sample_rate / 2), "--floor", str(f.log_floor),
            "--blas-threads", "1"]  # fmt: skip


def _command_row(label: str, ours: list[str], reference: list[str], workspace: Workspace,
                 target: float | None, extra: dict) -> dict:  # fmt: skip
    """Interleaved process timings of `ours` against `reference`: one table line and details."""
    cpu: dict[str, list[float]] = {"ours": [], "reference": []}
    fns = {"ours": process(ours, cpu["ours"]), "reference": process(reference, cpu["reference"])}
    rounds = workspace.sizes.cmd_rounds
    times = interleaved(fns, rounds, warmup=rounds > 1)  # warm-up: the OS file cache
    ratio = round_ratio(times, "ours", "reference")
    met = None if target is None else ratio >= target
    shown = {k: median(v) for k, v in times.items()}
    return {
        "lines": [line(label, shown["ours"], shown["reference"], "s", ratio,
                       "info" if target is None else f">= {target:g}x", met, extra["reference"])],
        "details": {"seconds_per_round": times, "cpu_seconds_per_call": cpu,
                    "cpu_ratio": median(cpu["reference"]) / median(cpu["ours"]),
                    "ours": " ".join(ours), **extra},
        "settings": {"processes": True, "omp_wait_policy": _process_env()["OMP_WAIT_POLICY"]},
    }  # fmt: skip


def startup(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 6: `audiovae --help` and `audiovae morph --help` as processes, median of 5 or more."""
    lines, details = [], {}
    for label, args in (("audiovae --help", []), ("audiovae morph --help", ["morph"])):
        cpu: list[float] = []
        run = process(["-m", "audiovae", *args, "--help"], cpu)
        times = interleaved({"help": run}, max(5, sizes.cmd_rounds))["help"]
        seconds = median(times)
        lines.append(line(f"start-up, {label}", seconds, 0.5, "s", 0.5 / seconds, "<= 0.5 s",
                          seconds <= 0.5, "the 0.5 s target"))  # fmt: skip
        details[label] = {"seconds": times, "cpu_seconds": cpu}
    return {"lines": lines, "details": details, "settings": {"processes": True}}


def cmd_resynth(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 7: `audiovae resynth` of the notes vs librosa's mel_to_audio job, both processes."""
    from audiovae.recipe import load_recipe

    notes, source = command_notes(workspace)
    out = workspace.root / "cmd"
    ours = ["-m", "audiovae", "resynth", *map(str, notes), "--recipe", str(COMMAND_RECIPE),
            "-o", str(out / "ours-resynth")]  # fmt: skip
    reference = [
        str(HERE / "librosa_jobs.py"),
        "resynth",
        *map(str, notes),
        *_front_end_args(load_recipe(COMMAND_RECIPE)),
        "-o",
        str(out / "ref-resynth"),
    ]
    label = f"resynth, {len(notes)} notes, whole command"
    return _command_row(label, ours, reference, workspace, 5.0, {
        "reference": "librosa mel_to_audio job", "notes": source, "note_count": len(notes),
        "note_seconds": sizes.cmd_note_seconds, "pngs": "one per note on both sides"})  # fmt: skip


def cmd_reconstruct(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 8: `audiovae reconstruct RUN` of the notes vs the librosa job at the run's front end."""
    from audiovae.recipe import load_recipe

    notes, source = command_notes(workspace)
    run = command_run(workspace)
    out = workspace.root / "cmd"
    ours = ["-m", "audiovae", "reconstruct", str(run), *map(str, notes), "--device", "cpu",
            "-o", str(out / "ours-reconstruct")]  # fmt: skip
    reference = [str(HERE / "librosa_jobs.py"), "resynth", *map(str, notes),
                 *_front_end_args(load_recipe(run / "recipe.yaml")), "-o",
                 str(out / "ref-reconstruct")]  # fmt: skip
    label = f"reconstruct, {len(notes)} notes, whole command"
    return _command_row(label, ours, reference, workspace, None, {
        "reference": "librosa mel_to_audio job", "notes": source, "run": str(run),
        "note_count": len(notes)})  # fmt: skip


def cmd_morph(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 9: `audiovae morph RUN A B` as a process (WAVs and PNG), audio s per wall s."""
    notes, source = command_notes(workspace)
    run = command_run(workspace)
    a, b = notes[0], notes[-1]
    cpu: list[float] = []
    fn = process(["-m", "audiovae", "morph", str(run), str(a), str(b), "--device", "cpu", "-o",
                  str(workspace.root / "cmd" / "morph")], cpu)  # fmt: skip
    rounds = workspace.sizes.cmd_rounds
    times = interleaved({"morph": fn}, rounds, warmup=rounds > 1)["morph"]
    from audiovae.recipe import load_recipe

    clip = load_recipe(run / "recipe.yaml").data.clip_seconds
    audio_seconds = MORPH_STEPS * clip
    rtf = audio_seconds / median(times)
    return {
        "lines": [line("morph, whole command, audio s per wall s", rtf, 1.0, "x real time", rtf,
                       "info", None, "real time")],
        "details": {"seconds": times, "cpu_seconds": cpu, "audio_seconds": audio_seconds,
                    "notes": source, "run": str(run)},
        "settings": {"processes": True},
    }  # fmt: skip


def cmd_extract(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 10: `audiovae extract RUN FOLDER` vs librosa log-mels of the same files to one .npz."""
    from audiovae.recipe import load_recipe

    notes, source = command_notes(workspace)
    run = command_run(workspace)
    out = workspace.root / "cmd"
    ours = ["-m", "audiovae", "extract", str(run), str(notes[0].parent), "--device", "cpu", "-o",
            str(out / "ours-features.npz")]  # fmt: skip
    reference = [str(HERE / "librosa_jobs.py"), "logmel", *map(str, notes),
                 *_front_end_args(load_recipe(run / "recipe.yaml")), "-o",
                 str(out / "ref-logmels.npz")]  # fmt: skip
    label = f"extract, folder of {len(notes)} notes, whole command"
    return _command_row(label, ours, reference, workspace, None, {
        "reference": "librosa log-mels to .npz", "notes": source, "run": str(run)})  # fmt: skip


def cmd_report(sizes: Sizes, settings: Settings, workspace: Workspace) -> dict:
    """Row 11: `audiovae report RUN` seconds, against one `audiovae --help` (start-up)."""
    run = command_run(workspace)
    out = workspace.root / "cmd" / "report.html"
    return _command_row("report of the run, whole command", ["-m", "audiovae", "report",
                        str(run), "--device", "cpu", "-o", str(out)], ["-m", "audiovae", "--help"],
                        workspace, None, {"reference": "audiovae --help (start-up)",
                                          "run": str(run)})  # fmt: skip


ROWS: dict[str, Callable[..., dict]] = {
    "logmel": logmel,
    "mel_to_audio": mel_to_audio,
    "train_pipeline": train_pipeline,
    "train_flops": train_flops,
    "generate": generate,
    "startup": startup,
    "cmd_resynth": cmd_resynth,
    "cmd_reconstruct": cmd_reconstruct,
    "cmd_morph": cmd_morph,
    "cmd_extract": cmd_extract,
    "cmd_report": cmd_report,
}


# ------------------------------------------------------------------------------ driver
def fmt(value: float) -> str:
    """A figure in 4 significant digits at most, without scientific notation for our ranges."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    digits = max(0, 3 - int(math.floor(math.log10(abs(value)))))
    return f"{value:,.{min(digits, 3)}f}"


def table(rows: dict[str, dict]) -> str:
    """One table over every line of every row."""
    header = ("row", "ours", "reference", "ratio", "target", "met?")
    body = []
    for name, result in rows.items():
        if result.get("error"):
            body.append((name, "ERROR", result["error"][:60], "", "", "NO"))
        for ln in result["lines"]:
            met = "-" if ln["met"] is None else ("yes" if ln["met"] else "NO")
            body.append((ln["label"], f"{fmt(ln['ours'])} {ln['unit']}",
                         f"{fmt(ln['reference'])} {ln['unit']}", f"{ln['ratio']:.3g}x",
                         ln["target"], met))  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(out)


def environment(settings: Settings) -> dict:
    import librosa

    from audiovae.train.provenance import git_commit, package_versions

    return {
        "settings": asdict(settings),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "processor": platform.processor(),
        "versions": package_versions() | {"librosa": librosa.__version__},
        "git": git_commit(),
    }


def run_suite(sizes: Sizes, settings: Settings, only: list[str] | None = None,
              log: Callable[[str], None] = print) -> dict:  # fmt: skip
    """Run the chosen rows (all by default) and return the report (not yet written)."""
    started = time.perf_counter()
    report: dict[str, Any] = {
        "suite": sizes.name,
        "started": datetime.now().isoformat(timespec="seconds"),
        "load_average_start": os.getloadavg(),
        "sizes": asdict(sizes),
        **environment(settings),
        "rows": {},
    }
    with tempfile.TemporaryDirectory(prefix="audiovae-bench-") as tmp:
        workspace = Workspace(Path(tmp), sizes, settings)
        for name in only or list(ROWS):
            t = time.perf_counter()
            log(f"[{name}] ...")
            try:
                result = ROWS[name](sizes, settings, workspace)
            except Exception as err:  # one broken row must not hide the others' figures
                log(traceback.format_exc())
                result = {"lines": [], "error": f"{type(err).__name__}: {err}"}
            result["seconds"] = time.perf_counter() - t
            report["rows"][name] = result
            log(f"[{name}] {result['seconds']:.1f} s")
    report["load_average_end"] = os.getloadavg()
    report["seconds"] = time.perf_counter() - started
    return report


def write_report(report: dict, folder: Path = RESULTS) -> Path:
    """bench[-quick]-<time>.json in `folder`, and latest[-quick].json when every row ran."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "" if report["suite"] == "full" else f"-{report['suite']}"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    text = json.dumps(report, indent=1, default=str) + "\n"
    path = folder / f"bench{suffix}-{stamp}.json"
    path.write_text(text)
    if set(report["rows"]) == set(ROWS):
        (folder / f"latest{suffix}.json").write_text(text)
    return path


def main(argv: list[str] | None = None) -> None:
    from audiovae.train.runtime import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller grid")
    parser.add_argument("--only", action="append", choices=list(ROWS), metavar="ROW",
                        help=f"run only this row (repeatable): {', '.join(ROWS)}")  # fmt: skip
    parser.add_argument("--threads", type=int, default=available_cores(),
                        help="torch threads (default: every available core)")  # fmt: skip
    parser.add_argument("--librosa-blas-threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="rows 3-5 (rows 1-2 always run on CPU)")
    parser.add_argument("--shape", choices=["default", "nsynth"], default="default",
                        help="rows 3-5: the default recipe's model, or recipes/nsynth.yaml's "
                             "(4 s clips, 128 mels, batch 256) on the synthetic notes")  # fmt: skip
    parser.add_argument(
        "--run",
        type=Path,
        default=None,
        help="command rows: a trained run folder (default: train a tiny one)",
    )
    parser.add_argument("--soundfont", type=Path, default=None,
                        help=f"command rows' notes (default: {SOUNDFONT} if installed, else "
                             "synthetic notes)")  # fmt: skip
    args = parser.parse_args(argv)
    settings = Settings(
        args.threads, args.librosa_blas_threads, args.device, args.shape, args.run, args.soundfont
    )
    torch.set_num_threads(settings.threads)
    report = run_suite(QUICK if args.quick else FULL, settings, args.only)
    path = write_report(report)
    print()
    load = f"{report['load_average_start'][0]:.2f} -> {report['load_average_end'][0]:.2f}"
    print(
        f"audiovae benchmark suite ({report['suite']}): {report['seconds']:.0f} s, torch "
        f"{settings.threads} threads, librosa BLAS {settings.librosa_blas_threads}, "
        f"OMP_WAIT_POLICY={report['omp_wait_policy']}, load average {load}"
    )
    print(table(report["rows"]))
    print(f"wrote {path}")
    if any(result.get("error") for result in report["rows"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()

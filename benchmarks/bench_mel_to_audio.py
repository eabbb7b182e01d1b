"""Mel -> audio: audiovae's MelToAudio against librosa.feature.inverse.mel_to_audio.

Synthetic notes (audiovae.audio.synth, every family, pitches across the range, 1 s at 16 kHz)
-> log-mel (n_fft 1024, hop 256, 128 Slaney mels) -> audio by each method with 32 Griffin-Lim
iterations -> scored against the TRUE linear magnitude |STFT(original)|, on the raw output (no
gain applied to any method):

    SC  = ||S_true - |STFT(y)| ||_F / ||S_true||_F                      (per clip, then mean)
    LSD = mean over frames of sqrt(mean over bins of (20 log10(max(S_true, f) / max(S_hat, f)))^2)
          in dB, with the floor f = 1e-4 * max(S_true) of the clip (-80 dB), then mean over clips

Timing: librosa runs clip by clip (it has no batched path); ours at batch 1 (clip by clip) and
at batch 32 (one call per 32 clips). All methods run interleaved within each round; the table
gives the median time per clip over the rounds. torch uses 2 threads (--torch-threads); the
row "ours_pghi_1t" repeats ours with 1 torch thread, which is as fast at batch 1 (small ops gain
nothing from a second thread) and immune to a busy neighbour. librosa's BLAS is limited to 1
thread by default, its faster setting here (~120 vs ~620 ms per clip with 2 BLAS threads,
measured interleaved), so the baseline is librosa at its best; --librosa-blas-threads changes
it. Thread waiting matters on a shared 2-core machine: with OMP_WAIT_POLICY=PASSIVE the
2-thread stage took ~27 ms per clip at batch 1 (thread wake-ups) instead of ~11 ms; with the
default policy and librosa's 2 BLAS threads spinning beside it, single rounds were up to 60x
slower. The environment's policy is used as found and recorded in the JSON.

    python benchmarks/bench_mel_to_audio.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import librosa
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from audiovae.audio.synth import SynthConfig, note_table, render_note
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.phase.stage import MelToAudio

SR, N_FFT, HOP, N_MELS, N_ITER = 16000, 1024, 256, 128, 32
RESULTS = Path(__file__).resolve().parent / "results" / "mel_to_audio.json"
TARGETS = {"sc_ratio_max": 0.45, "speedup_b1_min": 8.0, "speedup_b32_min": 5.0}


def pick_notes(per_family: int) -> tuple[np.ndarray, list[dict]]:
    """`per_family` notes of every family, pitches spread over 36..84, mixed velocity/vibrato."""
    config = SynthConfig(
        pitches=tuple(range(36, 85, 4)),
        instruments_per_family=2,
        velocities=(50, 100),
        vibrato_depths=(0.0, 0.4),
        seconds=1.0,
        sample_rate=SR,
    )
    table = note_table(config)
    rng = np.random.default_rng(0)
    chosen = []
    for family in config.families:
        rows = [r for r in table if r["instrument_family_str"] == family]
        # one pitch from each of `per_family` equal slices of the pitch range
        for part in np.array_split(np.array(config.pitches), per_family):
            candidates = [r for r in rows if r["pitch"] in set(part.tolist())]
            chosen.append(candidates[rng.integers(len(candidates))])
    audio = np.stack([render_note(r, config) for r in chosen])
    return audio, chosen


def stft_mag(audio: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    spec = torch.stft(
        audio, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True
    )
    return spec.abs()


def scores(true_mag: torch.Tensor, audio: torch.Tensor, window: torch.Tensor) -> dict:
    """Per-clip SC and LSD (see the module docstring), averaged over clips."""
    est = stft_mag(audio, window)
    sc = torch.linalg.vector_norm(true_mag - est, dim=(1, 2)) / torch.linalg.vector_norm(
        true_mag, dim=(1, 2)
    )
    floor = 1e-4 * true_mag.amax(dim=(1, 2), keepdim=True)
    ratio_db = 20 * torch.log10(true_mag.maximum(floor) / est.maximum(floor))
    lsd = ratio_db.pow(2).mean(dim=1).sqrt().mean(dim=1)  # RMS over bins, mean over frames
    return {"sc": sc.mean().item(), "lsd_db": lsd.mean().item(), "sc_per_clip": sc.tolist()}


def run_librosa(mels: np.ndarray, blas_threads: int) -> np.ndarray:
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _run_librosa(mels)


def _run_librosa(mels: np.ndarray) -> np.ndarray:
    """librosa.feature.inverse.mel_to_audio, spelled as its own two calls (mel_to_stft, then
    griffinlim with the same settings) so that the random initial phase can be seeded: the
    wrapper passes no random_state, and griffinlim then draws from an unseeded default_rng."""
    out = []
    for i, mel in enumerate(mels):
        mag = librosa.feature.inverse.mel_to_stft(mel, sr=SR, n_fft=N_FFT, power=2.0)
        out.append(
            librosa.griffinlim(
                mag, n_iter=N_ITER, hop_length=HOP, n_fft=N_FFT, window="hann", center=True,
                pad_mode="constant", length=SR, dtype=np.float32, random_state=i,
            )
        )  # fmt: skip
    return np.stack(out)


def run_ours(stage: MelToAudio, logmel: torch.Tensor, batch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        parts = [
            stage(logmel[i : i + batch], length=SR, generator=generator)
            for i in range(0, logmel.shape[0], batch)
        ]
    return torch.cat(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 7")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--per-family", type=int, default=None)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--librosa-blas-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    threads = args.torch_threads
    torch.set_num_threads(threads)
    rounds = args.rounds or (2 if args.quick else 7)
    per_family = args.per_family or 4  # 8 families x 4 = 32 notes

    audio_np, records = pick_notes(per_family)
    names = [r["note_str"] for r in records]
    velocity = np.array([r["velocity"] for r in records])
    fe = LogMelFrontEnd(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    audio = torch.from_numpy(audio_np)
    with torch.inference_mode():
        logmel = fe(audio)
        mel_np = fe.mel_power(audio).numpy()
    true_mag = stft_mag(audio, fe.window)
    pghi = MelToAudio(fe, n_iter=N_ITER, phase_init="pghi")
    stages = {  # name -> (stage, torch threads)
        "ours_random": (MelToAudio(fe, n_iter=N_ITER, phase_init="random"), threads),
        "ours_pghi": (pghi, threads),
        "ours_pghi_1t": (pghi, 1),
    }
    batch_big = min(32, len(names))

    times: dict[str, list[float]] = {}
    outputs: dict[str, torch.Tensor] = {}

    def timed(key: str, fn) -> torch.Tensor:
        start = time.perf_counter()
        out = fn()
        times.setdefault(key, []).append((time.perf_counter() - start) / len(names))
        return out

    for r in range(rounds):
        out = timed("librosa_b1", lambda: run_librosa(mel_np, args.librosa_blas_threads))
        outputs.setdefault("librosa", torch.from_numpy(out))
        for name, (stage, count) in stages.items():
            torch.set_num_threads(count)
            out = timed(f"{name}_b1", lambda s=stage: run_ours(s, logmel, 1))
            out32 = timed(f"{name}_b{batch_big}", lambda s=stage: run_ours(s, logmel, batch_big))
            torch.set_num_threads(threads)
            if r == 0:
                outputs[name] = out32
                outputs[f"{name}_b1"] = out
        print(f"round {r + 1}/{rounds} done", flush=True)

    lib_time = statistics.median(times["librosa_b1"])
    rows = {}
    for name in ("librosa", *stages):
        q = scores(true_mag, outputs[name], fe.window)
        t1 = lib_time if name == "librosa" else statistics.median(times[f"{name}_b1"])
        tb = lib_time if name == "librosa" else statistics.median(times[f"{name}_b{batch_big}"])
        rows[name] = {
            "ms_per_clip_b1": 1e3 * t1,
            f"ms_per_clip_b{batch_big}": 1e3 * tb,
            "speedup_b1": lib_time / t1,
            f"speedup_b{batch_big}": lib_time / tb,
            **q,
        }
        # librosa's L-BFGS-B stops on absolute tolerances, so its quality depends on the level
        per_clip = np.array(q["sc_per_clip"])
        rows[name]["sc_by_velocity"] = {
            int(v): float(per_clip[velocity == v].mean()) for v in np.unique(velocity)
        }
    # batched output equals clip-by-clip output up to float rounding
    batch_gap = {
        name: float((outputs[name] - outputs[f"{name}_b1"]).abs().max()) for name in stages
    }

    lib = rows["librosa"]
    header = (
        f"{'method':<13} {'ms/clip b1':>11} {f'ms/clip b{batch_big}':>12} {'x b1':>6} "
        f"{f'x b{batch_big}':>6} {'SC':>7} {'SC/lib':>7} {'LSD dB':>7}"
    )
    print(f"\n{len(names)} notes, 1 s at {SR} Hz, n_fft {N_FFT}, hop {HOP}, {N_MELS} mels, "
          f"{N_ITER} GL iterations, median of {rounds} rounds, torch threads {threads}, "
          f"librosa BLAS threads {args.librosa_blas_threads}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        print(
            f"{name:<13} {row['ms_per_clip_b1']:>11.1f} {row[f'ms_per_clip_b{batch_big}']:>12.1f} "
            f"{row['speedup_b1']:>6.1f} {row[f'speedup_b{batch_big}']:>6.1f} {row['sc']:>7.4f} "
            f"{row['sc'] / lib['sc']:>7.3f} {row['lsd_db']:>7.2f}"
        )
    print("mean SC by velocity:", {n: {v: round(x, 4) for v, x in r["sc_by_velocity"].items()}
                                   for n, r in rows.items()})  # fmt: skip
    verdict = {}
    for name in ("ours_pghi", "ours_pghi_1t"):
        row = rows[name]
        verdict[name] = {
            "sc_le_0.45x_librosa": row["sc"] <= TARGETS["sc_ratio_max"] * lib["sc"],
            "lsd_below_librosa": row["lsd_db"] < lib["lsd_db"],
            "speedup_b1_ge_8": row["speedup_b1"] >= TARGETS["speedup_b1_min"],
            f"speedup_b{batch_big}_ge_5": row[f"speedup_b{batch_big}"]
            >= TARGETS["speedup_b32_min"],
        }
        print(f"targets ({name}):", ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                                              for k, v in verdict[name].items()))  # fmt: skip
    print("max |batched - clip by clip|:", batch_gap)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {
            "notes": names, "seconds": 1.0, "sample_rate": SR, "n_fft": N_FFT, "hop": HOP,
            "n_mels": N_MELS, "gl_iterations": N_ITER, "rounds": rounds, "torch_threads": threads,
            "stage_defaults": {"nnls_iter": pghi.mel_inverse.n_iter, "momentum": pghi.momentum},
            "torch": torch.__version__, "librosa": librosa.__version__,
            "librosa_blas_threads": args.librosa_blas_threads,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "machine": platform.platform(), "processor": platform.processor(),
        },
        "rows": rows,
        "times_per_round_s_per_clip": times,
        "targets": verdict,
        "batched_vs_clip_by_clip_max_abs": batch_gap,
    }  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

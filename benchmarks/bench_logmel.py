"""Log-mel front end: where its time goes, and how call size, chunk size and neighbours change it.

The headline ratio against librosa is row 1 of benchmarks/suite.py (`--only logmel`); this script
is the investigation behind it. Three experiments, each interleaved within rounds, median ms per
clip, at NSynth's size (4 s, 128 mels) and the default recipe's (1.008 s, 64 mels):

1. sizes:  LogMelFrontEnd called on 8 clips (as build_cache) or 64 clips per call, each with
   chunks of 1, 2, 4, 8, 16 and 64 clips (the front end's CPU chunking, set via chunk_samples).
2. stages: one 8-clip chunk split into torch.stft, re*re + im*im, the mel matmul and the log;
   beside them two alternatives: the DFT as one matmul with a [n_fft, 2 x bins] basis, and the
   mel projection restricted to each group of 16 mels' nonzero bins (`banded`, exact up to float
   summation order; the Slaney filterbank is ~98% zeros).
3. after librosa: the front end on 64 clips timed right after librosa's melspectrogram of 16
   clips, with librosa's BLAS at 1 and at 2 threads, against the same call after 0.3 s of a
   Python busy-wait (which keeps this process on its core, unlike a sleep, while any other
   thread's spinning times out). OpenBLAS worker threads busy-wait for a while after each call
   (2^28 cycles by default), and so do torch's with the default OMP_WAIT_POLICY: on 2 cores
   whatever runs next shares a core with them.

    python benchmarks/bench_logmel.py [--rounds 7] [--threads 2]

Prints the tables and writes benchmarks/results/logmel.json.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the suite; pass ACTIVE to compare

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from suite import LOGMEL_SIZES, interleaved, median  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from audiovae.features.logmel import LogMelFrontEnd  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "logmel.json"
SR, N_FFT, HOP = 16000, 1024, 256


def clips(seconds: float, n: int = 64) -> torch.Tensor:
    rng = np.random.default_rng(0)
    return torch.from_numpy((0.1 * rng.standard_normal((n, int(SR * seconds)))).astype(np.float32))


def frontend(n_mels: int) -> LogMelFrontEnd:
    return LogMelFrontEnd(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=n_mels, f_max=8000.0)


def sizes_experiment(rounds: int) -> dict:
    """ms per clip by (clips per call, clips per chunk)."""
    out = {}
    for label, (seconds, n_mels) in LOGMEL_SIZES.items():
        audio, fe = clips(seconds), frontend(n_mels)

        def run(call: int, chunk: int, fe=fe, audio=audio) -> None:
            fe.chunk_samples = chunk * audio.shape[1]
            with torch.inference_mode():
                for i in range(0, len(audio), call):
                    fe(audio[i : i + call])

        fns = {
            f"call {call:2d}, chunk {chunk:2d}": (lambda c=call, k=chunk: run(c, k))
            for call in (8, 64)
            for chunk in (1, 2, 4, 8, 16, 64)
            if chunk <= call
        }
        times = interleaved(fns, rounds)
        out[label] = {k: 1e3 * median(v) / len(audio) for k, v in times.items()}
    return out


def banded_basis(basis: torch.Tensor, group: int = 16) -> list[tuple[int, int, torch.Tensor]]:
    """(first bin, last bin + 1, weights) for each group of `group` consecutive mels."""
    bands = []
    for rows in torch.arange(basis.shape[0]).split(group):
        nonzero = (basis[rows] != 0).any(0).nonzero().flatten()
        lo, hi = int(nonzero.min()), int(nonzero.max()) + 1
        bands.append((lo, hi, basis[rows][:, lo:hi].contiguous()))
    return bands


def stages_experiment(rounds: int) -> dict:
    """ms per clip of each stage of one 8-clip chunk, and two alternatives."""
    return {
        label: _stages(seconds, n_mels, rounds) for label, (seconds, n_mels) in LOGMEL_SIZES.items()
    }


def _stages(seconds: float, n_mels: int, rounds: int) -> dict:
    audio, fe = clips(seconds, 8), frontend(n_mels)
    window, basis = fe.window, fe.mel_basis

    def stft() -> torch.Tensor:
        return torch.stft(audio, N_FFT, HOP, window=window, center=True, pad_mode="constant",
                          return_complex=True)  # fmt: skip

    spec = stft()
    power = spec.real * spec.real + spec.imag * spec.imag
    mel = basis @ power
    bands = banded_basis(basis)
    frames = torch.nn.functional.pad(audio, (N_FFT // 2, N_FFT // 2)).unfold(-1, N_FFT, HOP)
    frames = frames * window
    dft = torch.fft.rfft(torch.eye(N_FFT), dim=-1)
    dft = torch.cat([dft.real, dft.imag], dim=1)

    def banded() -> torch.Tensor:
        return torch.cat([w @ power[:, lo:hi] for lo, hi, w in bands], dim=1)

    fns = {
        "torch.stft": stft,
        "re*re + im*im": lambda: spec.real * spec.real + spec.imag * spec.imag,
        "mel matmul (dense)": lambda: basis @ power,
        "clamp + log": lambda: mel.clamp_min(fe.log_floor).log(),
        "whole front end": lambda: fe(audio),
        "alt: DFT as matmul": lambda: frames @ dft,
        "alt: mel matmul banded (16 mels a group)": banded,
    }
    with torch.inference_mode():
        error = float(((banded() - mel).abs() / mel.abs().clamp_min(1e-30)).max())
        times = interleaved(fns, rounds)
    out = {k: 1e3 * median(v) / len(audio) for k, v in times.items()}
    out["banded max relative difference"] = error
    out["mel basis nonzero fraction"] = float((basis != 0).float().mean())
    return out


def busy_wait(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def neighbour_experiment(rounds: int, threads: int) -> dict:
    """ms per clip of the front end (64 clips, 4 s) right after librosa vs after a busy-wait."""
    seconds, n_mels = LOGMEL_SIZES["nsynth 4 s, 128 mels"]
    audio, fe = clips(seconds), frontend(n_mels)
    audio_np = audio.numpy()
    kwargs = dict(sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=n_mels, fmax=8000.0)
    times: dict[str, list[float]] = {}

    def ours() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(audio), 8):
                fe(audio[i : i + 8])
        return 1e3 * (time.perf_counter() - start) / len(audio)

    for r in range(rounds + 1):
        for blas in (1, 2):
            for torch_threads in sorted({1, threads}):
                torch.set_num_threads(torch_threads)
                with threadpool_limits(limits=blas, user_api="blas"):
                    for y in audio_np[:16]:
                        librosa.feature.melspectrogram(y=y, pad_mode="constant", **kwargs)
                right_after = ours()
                busy_wait(0.3)
                rested = ours()
                if r:  # round 0 warms up
                    key = f"librosa BLAS {blas} threads, torch {torch_threads}"
                    times.setdefault(f"{key}: right after", []).append(right_after)
                    times.setdefault(f"{key}: after 0.3 s busy-wait", []).append(rested)
    torch.set_num_threads(threads)
    return {k: median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = {
        "rounds": args.rounds,
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_start": os.getloadavg(),
        "sizes": sizes_experiment(args.rounds),
        "stages": stages_experiment(args.rounds),
        "after_librosa": neighbour_experiment(args.rounds, args.threads),
        "load_average_end": os.getloadavg(),
    }
    load = f"{report['load_average_start'][0]:.2f} -> {report['load_average_end'][0]:.2f}"
    print(
        f"ms per clip, median of {args.rounds} interleaved rounds, torch {args.threads} threads, "
        f"OMP_WAIT_POLICY={report['omp_wait_policy']}, load average {load}"
    )
    for experiment in ("sizes", "stages"):
        for label, values in report[experiment].items():
            print(f"\n{experiment}: {label}")
            for k, v in values.items():
                print(f"  {k:<42} {v:8.3g}")
    print("\nafter librosa (4 s clips, 128 mels, 8 clips per call)")
    for k, v in report["after_librosa"].items():
        print(f"  {k:<62} {v:8.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

"""Log-mel extraction speed: LogMelFrontEnd vs librosa.feature.melspectrogram, interleaved.

Both compute mel power with the same settings (4 s clips at 16 kHz, n_fft 1024, hop 256, 128 Slaney
mels, constant padding) plus the log; librosa one clip at a time (its API), ours on a batch in
chunks of 8. Rounds alternate between the two in one process; medians are reported.

    python benchmarks/bench_logmel.py [--clips 64] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import librosa
import numpy as np
import torch

from audiovae.features.logmel import LogMelFrontEnd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sr, seconds = 16000, 4.0
    audio = np.random.default_rng(0).standard_normal((args.clips, int(sr * seconds)))
    audio = (0.1 * audio).astype(np.float32)
    fe = LogMelFrontEnd(sample_rate=sr, n_fft=1024, hop_length=256, n_mels=128, f_max=8000.0)
    batch = torch.from_numpy(audio)

    def ours() -> np.ndarray:
        with torch.inference_mode():
            return fe(batch).numpy()

    def reference() -> np.ndarray:
        out = [
            np.log(np.maximum(librosa.feature.melspectrogram(
                y=y, sr=sr, n_fft=1024, hop_length=256, n_mels=128, fmax=8000.0,
                pad_mode="constant"), 1e-5))
            for y in audio
        ]  # fmt: skip
        return np.stack(out)

    ours(), reference()  # warm-up (FFT plans, filterbank caches)
    times: dict[str, list[float]] = {"librosa": [], "audiovae": []}
    for _ in range(args.rounds):
        for name, fn in (("librosa", reference), ("audiovae", ours)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    ms = {k: 1000 * statistics.median(v) / args.clips for k, v in times.items()}
    err = np.abs(ours() - reference()).max()
    result = {
        "clips": args.clips,
        "rounds": args.rounds,
        "threads": args.threads,
        "ms_per_clip": ms,
        "speedup_vs_librosa": ms["librosa"] / ms["audiovae"],
        "max_abs_log_error": float(err),
    }
    print(f"{'method':<10} {'ms/clip':>8} {'clips/s':>8}")
    for name, value in ms.items():
        print(f"{name:<10} {value:>8.2f} {1000 / value:>8.1f}")
    print(f"speed-up {result['speedup_vs_librosa']:.2f}x librosa (target >= 3x); "
          f"max |log-mel difference| {err:.2e}")  # fmt: skip
    out = Path(__file__).parent / "results" / "logmel.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""The reference jobs of the suite's command rows, done with librosa clip by clip as a script.

    python benchmarks/librosa_jobs.py resynth -o OUT [front-end options] AUDIO...
    python benchmarks/librosa_jobs.py logmel -o OUT.npz [front-end options] AUDIO...

`resynth`: for each file, load (mono, resampled), log-mel, `librosa.feature.inverse.mel_to_audio`
(32 Griffin-Lim iterations, librosa's defaults otherwise), write the WAV (16-bit) and a PNG of the
log-mel (`matplotlib.pyplot.imsave` through magma, no axes: the cheapest PNG a script would write,
so the ratio against `audiovae resynth` is not flattered). `logmel`: each file's log-mel,
all written to one .npz (what `audiovae extract` does, minus the model). The suite runs this as a
process, start-up included, like the command it is compared with.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", choices=["resynth", "logmel"])
    parser.add_argument("audio", nargs="+", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--sr", type=int, default=16000)
    parser.add_argument("--n-fft", type=int, default=1024)
    parser.add_argument("--hop", type=int, default=256)
    parser.add_argument("--n-mels", type=int, default=128)
    parser.add_argument("--fmin", type=float, default=0.0)
    parser.add_argument("--fmax", type=float, default=8000.0)
    parser.add_argument("--floor", type=float, default=1e-5, help="power floor before the log")
    parser.add_argument("--iters", type=int, default=32)
    parser.add_argument("--blas-threads", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    import librosa
    import numpy as np
    import soundfile
    from threadpoolctl import threadpool_limits

    mel = dict(sr=args.sr, n_fft=args.n_fft, hop_length=args.hop, fmin=args.fmin, fmax=args.fmax)
    out = args.out
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        if args.job == "logmel":
            features = {}
            for path in args.audio:
                y, _ = librosa.load(path, sr=args.sr, mono=True)
                power = librosa.feature.melspectrogram(
                    y=y, n_mels=args.n_mels, pad_mode="constant", **mel
                )
                features[path.stem] = np.log(np.maximum(power, args.floor)).astype(np.float32)
            out.parent.mkdir(parents=True, exist_ok=True)
            np.savez(out, **features)
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out.mkdir(parents=True, exist_ok=True)
        for path in args.audio:
            y, _ = librosa.load(path, sr=args.sr, mono=True)
            power = librosa.feature.melspectrogram(
                y=y, n_mels=args.n_mels, pad_mode="constant", **mel
            )
            logmel = np.log(np.maximum(power, args.floor))
            wave = librosa.feature.inverse.mel_to_audio(
                np.exp(logmel), n_iter=args.iters, pad_mode="constant", **mel
            )[: len(y)]
            soundfile.write(out / f"{path.stem}.resynth.wav", wave, args.sr, subtype="PCM_16")
            plt.imsave(out / f"{path.stem}.resynth.png", logmel, cmap="magma", origin="lower")


if __name__ == "__main__":
    main()

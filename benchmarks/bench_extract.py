"""Latent feature extraction speed (clips per second, CPU): from WAV files and from the cache.

Encodes every note of an NSynth-format folder with a trained run's model, three ways: decoding
the WAVs each time (no cache), building the feature cache from scratch (a cold cache, a fresh
folder each round) and reading a warm cache. The notes are the run's own synthetic notes, written
once by `audiovae data synth` (or pass --notes DIR). Nothing is trained: give a run folder.

    audiovae train recipes/synthetic.yaml --out runs/demo        # once, if you have no run
    python benchmarks/bench_extract.py --run runs/demo [--notes DIR] [--rounds 3] [--threads 2]

Prints a table of median seconds and clips/s and writes benchmarks/results/extract.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from audiovae.api import AudioVAE  # noqa: E402
from audiovae.downstream.extract import extract_features  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "extract.json"


def write_run_notes(run: Path, out: Path) -> Path:
    """The synthetic notes of the run's recipe (its grid and clip length) as an NSynth folder."""
    from audiovae.audio.synth import write_nsynth_folder
    from audiovae.data.sources import synth_config
    from audiovae.recipe import load_recipe

    return write_nsynth_folder(out, synth_config(load_recipe(run / "recipe.yaml").data))


def timed(fn) -> tuple[float, int]:
    """(seconds, rows) of one call of fn()."""
    start = time.perf_counter()
    rows = len(fn())
    return time.perf_counter() - start, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run folder of a trained model")
    parser.add_argument("--notes", type=Path, default=None, help="NSynth-format folder to encode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vae = AudioVAE.load(args.run, device="cpu")

    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        notes = args.notes or write_run_notes(args.run, Path(tmp) / "notes")
        opts = {"batch_size": args.batch_size, "progress": False}
        warm_dir = Path(tmp) / "warm-cache"
        extract_features(vae, notes, cache_dir=warm_dir, **opts)  # builds it; also warms up
        modes = {
            "wav (no cache)": lambda: extract_features(vae, notes, use_cache=False, **opts),
            "cache, cold (build + encode)": None,
            "cache, warm": lambda: extract_features(vae, notes, cache_dir=warm_dir, **opts),
        }
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        clips = 0
        for r in range(args.rounds):  # modes interleaved, so a busy neighbour hits all alike
            for mode, fn in modes.items():
                if fn is None:
                    cold = Path(tmp) / f"cold-{r}"
                    fn = lambda cold=cold: extract_features(vae, notes, cache_dir=cold, **opts)  # noqa: E731
                took, clips = timed(fn)
                seconds[mode].append(took)

    results = {
        mode: {
            "seconds": [round(s, 4) for s in values],
            "median_s": round(statistics.median(values), 4),
            "clips_per_s": round(clips / statistics.median(values), 1),
        }
        for mode, values in seconds.items()
    }
    report = {
        "run": str(args.run.resolve()),
        "notes": str(Path(args.notes).resolve()) if args.notes else "the run's synthetic notes",
        "clips": clips,
        "clip_seconds": vae.clip_samples / vae.sample_rate,
        "n_mels": vae.frontend.n_mels,
        "latent_dim": vae.latent_dim,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "device": "cpu",
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "results": results,
    }
    print(
        f"{clips} clips of {report['clip_seconds']:.3f} s, {report['n_mels']} mels, "
        f"latent {vae.latent_dim}, {args.threads} threads, median of {args.rounds} rounds"
    )
    print(f"{'mode':<30} {'median s':>9} {'clips/s':>9}")
    for mode, r in results.items():
        print(f"{mode:<30} {r['median_s']:>9.2f} {r['clips_per_s']:>9.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

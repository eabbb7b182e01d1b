"""Linear probe of a trained model's latents on the synthetic notes.

Encodes every note of an NSynth-format folder written by `audiovae data synth` (posterior means),
then fits a logistic regression per factor and reports accuracy on (a) a random half of the notes
held out and (b) the notes of instruments never seen by the probe (one instrument per family held
out), which a trivial representation cannot fake. The same probe on raw log-mels (PCA to the same
size) is printed alongside as the reference.

    python benchmarks/probe_synthetic.py RUN_DIR NOTES_DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audiovae import AudioVAE

FACTORS = ("pitch", "instrument_family", "velocity", "vibrato")
COLUMNS = (
    "latent_random_half",
    "latent_heldout_instruments",
    "pca_logmel_random_half",
    "pca_logmel_heldout_instruments",
)


def probe(features: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Accuracy of a standardised multinomial logistic regression fitted on `train`."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=10.0))
    clf.fit(features[train], labels[train])
    return float(clf.score(features[test], labels[test]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("notes", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)

    records = sorted(json.loads((args.notes / "examples.json").read_text()).values(),
                     key=lambda r: r["note_str"])  # fmt: skip
    paths = [args.notes / "audio" / f"{r['note_str']}.wav" for r in records]
    vae = AudioVAE.load(args.run, device="cpu")
    start = time.perf_counter()
    logmel = torch.cat([vae.logmel(paths[i : i + 256]) for i in range(0, len(paths), 256)])
    mu = vae.encode_logmel(logmel)[0].numpy()
    encode_s = time.perf_counter() - start
    raw = PCA(n_components=mu.shape[1], random_state=args.seed).fit_transform(
        logmel.flatten(1).numpy()
    )

    rng = np.random.default_rng(args.seed)
    n = len(records)
    perm = rng.permutation(n)
    half_train, half_test = perm[: n // 2], perm[n // 2 :]
    k = np.array([int(r["instrument_str"].rsplit("_", 1)[1]) for r in records])
    held_train, held_test = np.flatnonzero(k != k.max()), np.flatnonzero(k == k.max())

    rows = {}
    for factor in FACTORS:
        y = np.array([str(r[factor]) for r in records])
        rows[factor] = {
            "latent_random_half": probe(mu, y, half_train, half_test),
            "latent_heldout_instruments": probe(mu, y, held_train, held_test),
            "pca_logmel_random_half": probe(raw, y, half_train, half_test),
            "pca_logmel_heldout_instruments": probe(raw, y, held_train, held_test),
        }
    print(f"{n} notes, latent size {mu.shape[1]}, encoded in {encode_s:.1f} s")
    print(f"{'factor':<18} {'mu half':>8} {'mu held-out':>12} {'PCA half':>9} {'PCA held-out':>13}")
    for factor, r in rows.items():
        a, b, c, d = (r[k] for k in COLUMNS)
        print(f"{factor:<18} {a:>8.3f} {b:>12.3f} {c:>9.3f} {d:>13.3f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

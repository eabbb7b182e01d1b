"""`audiovae evaluate`: reconstruction, KL, active units, log p(x) and disentanglement of a model
on a data set, as one JSON-able dict.

Estimator choices (all named in the output):
- reconstruction: L1 and L2 (mean squared) error of the decoded posterior mean, in log-mel units
  (natural log of mel power), over every clip of DATA; spectral convergence of the full
  mel -> audio stage output against the true STFT magnitude on a seeded subset.
- KL per dimension: mean over clips of KL(q(z|x) || N(0, I)) in nats.
- active units: dimensions whose posterior mean varies across the data, Cov_x(E_q[z_j]) > 0.01
  (Burda et al. 2016, section 5.2).
- log p(x): the k-sample importance-weighted bound (Burda et al. 2016) on a seeded subset.
- disentanglement: the metrics of audiovae.metrics.disentanglement on mu, with every discrete label
  as a factor (see `factor_labels`); `mig_bins` (20 or "values") and `dci_estimator`
  ("random_forest" or disentanglement_lib's "gradient_boosting") pick those two estimators. A
  metric that fails is named under `errors`; the others still score.
- listening: pitch swaps among held-out instruments judged by pYIN and a family classifier, with
  the Griffin-Lim ceiling and leakage probes (audiovae.metrics.listening).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiovae.api import AudioVAE
from audiovae.checkpoints import load_checkpoint
from audiovae.data.sources import open_data
from audiovae.downstream.extract import clip_condition, model_cache
from audiovae.errors import AudioVAEError, DataError
from audiovae.objectives.kl import gaussian_kl
from audiovae.objectives.likelihood import ReconstructionLikelihood

ACTIVE_UNIT_THRESHOLD = 0.01
MAX_FACTOR_VALUES = 200


DERIVED_PREFIXES = ("timbre_",)  # the synthetic instruments' parameters: functions of `instrument`


def factor_labels(
    labels: dict[str, list], n: int, names: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Discrete ground-truth factors among a data set's labels: scalar (int, str or few-valued
    float) labels with 2..MAX_FACTOR_VALUES distinct values and fewer values than clips (so ids
    like `note` are not factors); `x_str` is dropped when `x` is also a factor (same partition), and
    so are the synthetic notes' `timbre_*` parameters (each a function of `instrument`, they would
    count one factor six times). `names` picks the factors explicitly instead."""
    out: dict[str, np.ndarray] = {}
    for name, values in labels.items():
        if names is not None and name not in names:
            continue
        if names is None and name.startswith(DERIVED_PREFIXES):
            continue
        if not values or isinstance(values[0], (list, tuple, dict)) or values[0] is None:
            continue
        keys = [str(v) for v in values]
        distinct = sorted(set(keys))
        if not 2 <= len(distinct) <= min(MAX_FACTOR_VALUES, n - 1):
            continue
        index = {v: i for i, v in enumerate(distinct)}
        out[name] = np.array([index[k] for k in keys], dtype=np.int64)
    for name in list(out):
        if names is None and name.endswith("_str") and name[: -len("_str")] in out:
            del out[name]
    missing = sorted(set(names or []) - set(out))
    if missing:
        raise DataError(
            f"factors {missing} are not discrete labels of this data; have {sorted(labels)}"
        )
    return out


def objective_likelihood(vae: AudioVAE, run_dir: Path, checkpoint: str) -> ReconstructionLikelihood:
    """The reconstruction likelihood the model was trained with (learned scales included)."""
    objective = vae.manifest.objective if vae.manifest else {}
    likelihood = ReconstructionLikelihood(
        objective.get("likelihood", "gaussian"), vae.model.cfg.n_mels, objective.get("scale", 1.0)
    )
    tensors, _ = load_checkpoint(
        run_dir / "checkpoints" / f"{checkpoint}.safetensors", prefix="objective"
    )
    if "likelihood.log_scale" in tensors:
        likelihood.log_scale.data.copy_(tensors["likelihood.log_scale"])
    return likelihood.to(vae.device)


@torch.no_grad()
def evaluate(
    run_dir: str | Path,
    data: str | Path,
    *,
    checkpoint: str = "best",
    iwae_clips: int = 256,
    iwae_k: int = 100,
    audio_clips: int = 32,
    seed: int = 0,
    factors: list[str] | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    codes_path: str | Path | None = None,
    mig_bins: int | str = 20,
    dci_estimator: str = "random_forest",
    listen_pairs: int = 48,
    examples_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate the model in `run_dir` on every clip of `data` (see the module docstring);
    `codes_path` also saves mu [clips, latent] as .npy (what UDR compares across seeds).
    `listen_pairs` swaps are scored by the listening test (0: skip; audiovae.metrics.listening),
    a few of them written as WAVs into `examples_dir` when given."""
    _check_metric_options(mig_bins, dci_estimator)
    run_dir = Path(run_dir)
    vae = AudioVAE.load(run_dir, checkpoint=checkpoint, device=device)
    src = open_data(data, sample_rate=vae.sample_rate, clip_samples=vae.clip_samples)
    cache = model_cache(vae, src.clips, cache_dir, progress)
    n = len(cache)
    if n < 2:
        raise DataError(f"{src.path}: need at least 2 readable clips to evaluate, got {n}")
    rng = np.random.default_rng(seed)
    norm = vae.model.normalizer
    l1 = l2 = 0.0
    mus, kls = [], []
    for start in range(0, n, 128):
        rows = np.arange(start, min(start + 128, n))
        logmel = cache.batch(rows).to(vae.device)
        cond = clip_condition(vae, cache.labels, rows, src.path)
        mu, logvar = vae.encode_logmel(logmel, condition=cond)
        recon = vae.decode(mu, condition=cond)
        l1 += float((recon - logmel).abs().mean(dim=(1, 2)).sum())
        l2 += float((recon - logmel).pow(2).mean(dim=(1, 2)).sum())
        mus.append(mu.float().cpu())
        kls.append(gaussian_kl(mu.float(), logvar.float()).cpu())
    mu_all = torch.cat(mus).numpy()
    if codes_path is not None:
        np.save(codes_path, mu_all.astype(np.float32))
    kl = torch.cat(kls).mean(dim=0).numpy()
    activity = mu_all.var(axis=0)
    result: dict[str, Any] = {
        "model": str(run_dir),
        "checkpoint": checkpoint,
        "data": str(src.path),
        "clips": n,
        "skipped": len(cache.meta.get("skipped", [])),
        "reconstruction": {
            "logmel_l1": l1 / n,
            "logmel_mse": l2 / n,
            "units": "natural-log mel power, decoded posterior mean",
        },
        "kl_per_dim": [float(v) for v in kl],
        "kl_total": float(kl.sum()),
        "active_units": int((activity > ACTIVE_UNIT_THRESHOLD).sum()),
        "active_units_estimator": f"Cov_x(E_q[z_j]) > {ACTIVE_UNIT_THRESHOLD}",
    }
    result["spectral_convergence"] = _spectral_convergence(vae, src, cache, audio_clips, rng)
    result["log_px"] = _log_px(vae, run_dir, checkpoint, src, cache, iwae_clips, iwae_k, rng, norm)
    result["disentanglement"] = _disentanglement(
        mu_all, factor_labels(cache.labels, n, factors), seed, mig_bins, dci_estimator
    )
    from audiovae.metrics.listening import listening_section

    result["listening"] = listening_section(
        vae, src, cache, mu_all, pairs=listen_pairs, seed=seed, examples_dir=examples_dir,
        progress=progress,
    )  # fmt: skip
    return result


def _check_metric_options(mig_bins: int | str, dci_estimator: str) -> None:
    from audiovae.metrics.disentanglement import DCI_ESTIMATORS

    if mig_bins != "values" and not (
        isinstance(mig_bins, int) and not isinstance(mig_bins, bool) and mig_bins >= 2
    ):
        raise AudioVAEError(f'mig_bins: expected an integer >= 2 or "values", got {mig_bins!r}')
    if dci_estimator not in DCI_ESTIMATORS:
        raise AudioVAEError(
            f"dci_estimator: expected one of {list(DCI_ESTIMATORS)}, got {dci_estimator!r}"
        )


def _subset(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.permutation(n)[: min(size, n)])


def _spectral_convergence(vae, src, cache, size, rng) -> dict[str, Any]:
    """||S - |STFT(y)|||_F / ||S||_F of the decoded audio y against the input's magnitude S."""
    if size <= 0:
        return {"skipped": True}
    position = {clip_id: i for i, clip_id in enumerate(src.clips.ids)}
    rows = _subset(len(cache), size, rng)
    waves = torch.stack([src.clips.load(position[cache.ids[i]]) for i in rows]).to(vae.device)
    cond = clip_condition(vae, cache.labels, rows, src.path)
    mu, _ = vae.encode_logmel(vae.frontend(waves), condition=cond)
    audio = vae.decode_audio(mu, condition=cond, length=waves.shape[-1])
    fe = vae.frontend

    def magnitude(x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x, fe.n_fft, fe.hop_length, window=fe.window, center=True,
                          pad_mode="constant", return_complex=True)  # fmt: skip
        return spec.abs()

    true, est = magnitude(waves), magnitude(audio)
    sc = (true - est).flatten(1).norm(dim=1) / true.flatten(1).norm(dim=1).clamp_min(1e-12)
    return {"mean": float(sc.mean()), "clips": len(rows), "estimator": "SC vs input |STFT|"}


def _log_px(vae, run_dir, checkpoint, src, cache, size, k, rng, norm) -> dict[str, Any]:
    """Mean IWAE estimate of log p(x) in nats per clip (normalised log-mel space)."""
    from audiovae.objectives.iwae import iwae_log_likelihood

    if size <= 0 or k <= 0:
        return {"skipped": True}
    likelihood = objective_likelihood(vae, run_dir, checkpoint)
    rows = _subset(len(cache), size, rng)
    gen = torch.Generator(device=vae.device).manual_seed(int(rng.integers(2**31)))
    values = []
    for start in range(0, len(rows), 32):
        part = rows[start : start + 32]
        x = norm.normalize(cache.batch(part).to(vae.device))
        cond = clip_condition(vae, cache.labels, part, src.path)
        model = vae.model.bind(
            None if cond is None else vae.model.condition_indices(cond, len(part))
        )
        values.append(
            iwae_log_likelihood(model, likelihood, x, k=k, batch_k=min(k, 50), generator=gen)
        )
    lp = torch.cat(values)
    return {
        "mean": float(lp.mean()),
        "clips": len(rows),
        "k": k,
        "estimator": "IWAE bound (Burda et al. 2016) on normalised log-mels, nats per clip",
    }


def _disentanglement(
    mu: np.ndarray,
    factors: dict[str, np.ndarray],
    seed: int,
    mig_bins: int | str = 20,
    dci_estimator: str = "random_forest",
) -> dict[str, Any]:
    """Every disentanglement metric on mu against the discrete factors."""
    if not factors:
        return {"skipped": "the data carries no discrete factor labels"}
    from audiovae.metrics import disentanglement as dm

    names = sorted(factors)
    matrix = np.stack([factors[k] for k in names], axis=1)
    out: dict[str, Any] = {"factors": names}
    metrics = {
        "mig": lambda rng: dm.mutual_info_gap(mu, matrix, mig_bins),
        "sap": lambda rng: dm.sap_score(mu, matrix, rng),
        "dci": lambda rng: dm.dci(mu, matrix, rng, estimator=dci_estimator),
        "factor_vae_score": lambda rng: dm.factor_vae_score(mu, matrix, rng),
        "beta_vae_score": lambda rng: dm.beta_vae_score(mu, matrix, rng),
    }
    errors: dict[str, str] = {}
    for key, fn in metrics.items():
        try:  # one metric failing on these codes must not cost the others (or a sweep's member)
            value, details = fn(np.random.default_rng(seed))
        except Exception as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"
            continue
        out[key] = _jsonable(value)
        out[f"{key}_details"] = _jsonable(details)
    if errors:
        out["errors"] = errors
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value

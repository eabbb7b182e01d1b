"""Metrics on learned latent codes: one pure function per metric.

`disentanglement` scores codes against known discrete factors of variation (MIG, SAP, DCI, the
FactorVAE score and the beta-VAE score); each returns its score(s) and a JSON-serialisable dict
that names its estimator choices.
"""

from audiovae.lazy import lazy_exports

__all__ = [
    "beta_vae_points",
    "beta_vae_score",
    "dci",
    "dci_importance_matrix",
    "discrete_entropy",
    "discrete_mutual_info",
    "equal_width_bins",
    "factor_vae_score",
    "mutual_info_gap",
    "sap_score",
]
# scikit-learn loads on first use, not with `audiovae --help`
__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "audiovae.metrics.disentanglement"))

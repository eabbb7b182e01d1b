"""Latent features for downstream use: extract them to a file, probe them with classifiers."""

from audiovae.lazy import lazy_exports

__all__ = ["FORMATS", "Features", "extract", "extract_features", "load_features", "save_features"]
# torch loads on first use, not with `audiovae --help`
__getattr__ = lazy_exports(
    __name__,
    {
        "extract": "audiovae.downstream.extract",
        "extract_features": "audiovae.downstream.extract",
        "FORMATS": "audiovae.downstream.features_file",
        "Features": "audiovae.downstream.features_file",
        "load_features": "audiovae.downstream.features_file",
        "save_features": "audiovae.downstream.features_file",
    },
)

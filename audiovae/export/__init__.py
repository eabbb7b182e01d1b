"""Latent features for downstream use: extract them to a file, probe them with classifiers."""

from audiovae.lazy import lazy_exports

__all__ = ["Features", "extract", "extract_features", "load_features", "save_features"]
# torch loads on first use, not with `audiovae --help`
__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "audiovae.export.extract"))

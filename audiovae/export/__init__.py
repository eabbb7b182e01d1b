"""Latent features for downstream use: extract them to a file, probe them with classifiers."""

from audiovae.export.extract import (
    Features,
    extract,
    extract_features,
    load_features,
    save_features,
)

__all__ = ["Features", "extract", "extract_features", "load_features", "save_features"]

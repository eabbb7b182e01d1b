"""Latent features for downstream use: extract them to a file, probe them with classifiers."""

from audiovae.downstream.extract import extract, extract_features
from audiovae.downstream.features_file import FORMATS, Features, load_features, save_features

__all__ = ["FORMATS", "Features", "extract", "extract_features", "load_features", "save_features"]

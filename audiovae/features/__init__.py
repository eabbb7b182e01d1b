"""Log-mel front end, normalisation statistics and the memory-mapped feature cache."""

from audiovae.features.logmel import LogMelFrontEnd
from audiovae.features.normalization import MelNormalizer, mel_band_statistics

__all__ = ["LogMelFrontEnd", "MelNormalizer", "mel_band_statistics"]

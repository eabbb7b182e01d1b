"""Audio I/O and the synthetic note generator."""

from audiovae.audio.io import fit_length, load_audio, read_audio, resample, to_mono, write_wav

__all__ = ["fit_length", "load_audio", "read_audio", "resample", "to_mono", "write_wav"]

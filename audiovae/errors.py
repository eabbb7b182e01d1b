"""Errors that reach users as one clear line (the CLI prints them without a traceback)."""


class AudioVAEError(Exception):
    """Base class: a problem with the user's input, data or run, explained in one line."""


class RecipeError(AudioVAEError):
    """A recipe key, type or value is wrong."""


class DataError(AudioVAEError):
    """A data folder, metadata file or audio file is missing or malformed."""


class CheckpointError(AudioVAEError):
    """A run folder or checkpoint is missing, corrupt or of an unknown format."""


class TrainingDiverged(AudioVAEError):
    """The loss became NaN or Inf; the last good checkpoint is kept."""

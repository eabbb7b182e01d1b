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


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, no permission); the files already there
    are untouched."""


class RunFolderBusy(AudioVAEError):
    """Another process is training into this run folder."""


class TrainingStopped(AudioVAEError):
    """Training stopped on request (SIGTERM, SIGUSR1) after writing a checkpoint; `--resume`
    continues it exactly. The CLI exits with EXIT_STOPPED."""

    EXIT_STOPPED = 75  # sysexits.h EX_TEMPFAIL: "temporary failure, try again"

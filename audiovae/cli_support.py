"""What every click command shares: user errors as one line, and common parameter types."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from audiovae.errors import AudioVAEError, TrainingStopped

AUDIO_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
RUN_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
OUT_DIR = click.Path(file_okay=False, path_type=Path)


def user_errors(func):
    """Turn AudioVAEError into one line on stderr (`error: ...`) and exit status 2; a run
    stopped by SIGTERM / SIGUSR1 into `stopped: ...` and status 75 (resumable); Ctrl-C into 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TrainingStopped as err:  # SIGTERM / SIGUSR1: checkpointed, --resume continues
            click.echo(str(err), err=True)
            sys.exit(TrainingStopped.EXIT_STOPPED)
        except AudioVAEError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper

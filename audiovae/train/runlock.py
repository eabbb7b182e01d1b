"""One writer per run folder: an exclusive OS file lock held by the process that trains into it.

The lock is `flock` on `<run>/train.lock`; the kernel releases it when the holder exits, however
it exits (SIGKILL, a crash, a lost node's process), so there is never a stale lock to clean up.
The file itself stays (removing it would let two processes lock two different files) and records
the holder's PID and host, which a refused process names in its error. Readers (`evaluate`,
`report`, `AudioVAE.load`) take no lock: checkpoints are replaced atomically, so they always read
a complete one. On a network file system the lock is as reliable as that file system's locking.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from audiovae.errors import AudioVAEError, RunFolderBusy

LOCK_NAME = "train.lock"


class RunFolderLock:
    """`with RunFolderLock(run):` or `acquire()` / `release()`; raises RunFolderBusy (one line
    naming the folder and the holder) when another process holds it."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunFolderLock:
        """Take the lock without waiting; idempotent while held."""
        import fcntl

        if self._fd is not None:
            return self
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise AudioVAEError(
                f"{self.path}: cannot create the run folder's lock ({exc.strerror})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFolderBusy(_busy(self.run_dir)) from None
        except OSError as exc:  # a file system without locks (some network mounts)
            os.close(fd)
            logging.getLogger(__name__).warning(
                "%s: cannot lock files here (%s); nothing stops a second writer", self.path,
                exc.strerror,
            )  # fmt: skip
            return self
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunFolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def _busy(run_dir: Path) -> str:
    return (
        f"{run_dir} is in use by another training process ({holder(run_dir)}); "
        "wait for it to finish or stop it, or choose another --out"
    )


def refuse_if_in_use(run_dir: str | Path) -> None:
    """Raise RunFolderBusy if a process trains into `run_dir` now (a check; takes no lock)."""
    if in_use(run_dir):
        raise RunFolderBusy(_busy(Path(run_dir)))


def holder(run_dir: str | Path) -> str:
    """Who holds (or last held) the lock of `run_dir`, as recorded in its lock file."""
    try:
        text = (Path(run_dir) / LOCK_NAME).read_text().strip()
    except OSError:
        text = ""
    return text or "pid unknown"


def in_use(run_dir: str | Path) -> bool:
    """Whether a process holds the lock of `run_dir` right now (a training run in progress)."""
    import fcntl

    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False

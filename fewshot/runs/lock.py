"""One run folder, one writer: an advisory lock held for the life of a writing command.

``fewshot train`` (new or ``--resume``) and ``fewshot eval`` hold ``RUN_DIR/.fewshot.lock``
(``fcntl.flock``, exclusive, non-blocking) while they write, so a second writer into the same
folder is refused at once with a message naming the holder instead of interleaving
``metrics.jsonl`` rows or mixing one run's ``config.yaml`` with another's ``last.pt``. The kernel
drops the lock when the process ends, however it ends (even SIGKILL), so a killed run never
leaves a stale lock. Where ``fcntl`` is missing (Windows) there is no lock.

The lock file holds the holder's pid and command (for the message only). It is written in place
on the locked descriptor, not with :mod:`fewshot.atomic`: replacing the file would replace the
inode the lock is on.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Union

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".fewshot.lock"


class RunBusyError(ValueError):
    """Another process is writing into the run folder."""


@contextlib.contextmanager
def run_lock(folder: Union[str, Path], what: str, enabled: bool = True) -> Iterator[Path]:
    """Hold the writer lock of ``folder`` (created if missing) inside the ``with`` block.

    Args:
        folder: the run folder (or an evaluation's ``--out`` folder).
        what: the command holding it (shown to a refused second writer).
        enabled: False on ranks other than 0 of a distributed run (rank 0 writes for all).

    Raises:
        RunBusyError: another live process holds the lock.
        OSError: the folder cannot be created or written (read-only, a file, a name too long).
    """
    folder = Path(folder)
    if not enabled or fcntl is None:
        yield folder
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise RunBusyError(
                f"run folder {str(folder)!r} is being written by {holder}; one writer at a time. Wait for "
                "it to finish (or stop it), or write elsewhere (another run.name; `fewshot eval --out DIR`)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({what})\n".encode(), 0)
        try:
            yield folder
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked(folder: Union[str, Path]) -> bool:
    """True when a live process holds ``folder``'s writer lock (for tests and tools)."""
    path = Path(folder) / LOCK_NAME
    if fcntl is None or not path.is_file():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


__all__ = ["LOCK_NAME", "RunBusyError", "is_locked", "run_lock"]

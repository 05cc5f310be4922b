"""Writes that a kill or a full disk cannot leave half done.

Every file write goes to a temporary file in the same folder, is fsynced, then renamed over the
target, so a process killed at any moment (even by SIGKILL) leaves either the old complete file
or the new complete file. A killed write can leave its temporary file behind;
:func:`remove_stale_temporaries` clears those. Folders (data caches) are built under a temporary
name and published with one rename (:func:`publish_folder`).

The one home of atomic writes in fewshot (checkpoints, config.yaml, run.json, results.json,
data caches). A leaf: imports nothing from fewshot.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Union

TMP_SUFFIX = ".tmp"
NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # disk full, quota exceeded


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Union[str, Path], write: Callable[[Any], None]) -> Path:
    """Call ``write(binary_file)`` on a temporary file, fsync it, rename it over ``path``.

    Raises:
        OSError: as raised by the write, with ``filename`` set to ``path`` (e.g. ENOSPC, so the
            message can say which file did not fit); the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as err:  # read-only folder, no permission: name the file that was to be written
        if err.errno is not None and err.filename is None:
            raise OSError(err.errno, os.strerror(err.errno), str(path)) from err
        raise
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno is not None and err.filename is None:
            raise OSError(err.errno, os.strerror(err.errno), str(path)) from err
        raise
    return path


def atomic_write_text(path: Union[str, Path], text: str) -> Path:
    """Atomic counterpart of ``Path.write_text`` (config.yaml, run.json, results.json)."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> Path:
    """Atomic counterpart of ``Path.write_bytes``."""
    return atomic_write(path, lambda f: f.write(data))


def copy_file(src: Union[str, Path], dst: Union[str, Path]) -> Path:
    """Make ``dst`` hold the same bytes as ``src``, atomically; a hard link when the file system
    allows one (no second serialisation, no extra space), else a byte copy."""
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.link{TMP_SUFFIX}")
    try:
        if tmp.exists():
            tmp.unlink()
        os.link(src, tmp)
        os.replace(tmp, dst)
        _fsync_dir(dst.parent)
        return dst
    except OSError as err:
        if tmp.exists():
            tmp.unlink()
        if err.errno in NO_SPACE:
            raise
    data = src.read_bytes()
    return atomic_write(dst, lambda f: f.write(data))


def remove_stale_temporaries(folder: Union[str, Path]) -> int:
    """Delete temporary files left by writes that were killed; returns how many."""
    folder = Path(folder)
    stale = list(folder.glob(f".*{TMP_SUFFIX}")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)

def check_writable(folder: Union[str, Path]) -> Path:
    """Create ``folder`` if needed and prove a file can be written there (a temporary file,
    removed at once), before any work whose results would go there.

    Raises:
        OSError: with ``filename`` set (read-only file system, no permission, a file where the
            folder should be, a name too long).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-probe.", suffix=TMP_SUFFIX, dir=folder)
    except OSError as err:
        if err.filename is None and err.errno is not None:
            raise OSError(err.errno, os.strerror(err.errno), str(folder)) from err
        raise
    os.close(fd)
    os.unlink(tmp)
    return folder


def allocate_file(path: Union[str, Path], offset: int = 0) -> None:
    """Reserve the disk blocks of a freshly created (sparse) memory-mapped ``.npy`` file, so that
    a full disk is an OSError (ENOSPC, naming the file) here rather than a SIGBUS at the first
    write through the map. Where ``posix_fallocate`` is not supported, zeros are written over the
    data (from ``offset``, past the header) instead."""
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            os.posix_fallocate(fd, 0, size)
        except (AttributeError, OSError) as err:
            if isinstance(err, OSError) and err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise OSError(err.errno, os.strerror(err.errno), str(path)) from None
            block = bytes(1 << 20)
            for start in range(offset, size, len(block)):  # pwrite raises ENOSPC like any write
                os.pwrite(fd, block[:min(len(block), size - start)], start)
    finally:
        os.close(fd)


def publish_folder(tmp: Path, folder: Path, is_valid: Callable[[Path], bool]) -> None:
    """Rename the finished ``tmp`` to ``folder``, replacing an old or invalid ``folder``.

    If another process published a valid ``folder`` in the meantime (two builds racing), that one
    is kept and ``tmp`` is removed; any other failure is raised.
    """
    old = None
    if folder.exists():  # moved aside first: a rename cannot replace a non-empty folder
        old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except OSError:
        if not is_valid(folder):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["NO_SPACE", "TMP_SUFFIX", "atomic_write", "atomic_write_bytes", "atomic_write_text", "allocate_file",
           "check_writable",
           "copy_file", "publish_folder", "remove_stale_temporaries"]

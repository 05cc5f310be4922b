"""Checkpoints: atomic writes, safe loads.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)``: loading never executes code from the file.

Every write goes to a temporary file in the same folder, is fsynced, then renamed over the
target, so a process killed at any moment (even by SIGKILL) leaves either the old complete file
or the new complete file. A killed write can leave its temporary file behind;
:func:`remove_stale_temporaries` clears those when the run resumes.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Union

import torch

FORMAT = "fewshot-checkpoint-v1"
_TMP_SUFFIX = ".tmp"
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # disk full, quota exceeded


class CheckpointError(RuntimeError):
    """A checkpoint that cannot or must not be loaded."""


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
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


def save_checkpoint(state: Dict[str, Any], path: Union[str, Path]) -> Path:
    """Write ``state`` atomically: a kill at any moment leaves the old file or the new one."""
    return atomic_write(path, lambda f: torch.save(state, f))


def atomic_write_text(path: Union[str, Path], text: str) -> Path:
    """Atomic counterpart of ``Path.write_text`` (config.yaml, run.json)."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def copy_checkpoint(src: Union[str, Path], dst: Union[str, Path]) -> Path:
    """Make ``dst`` hold the same bytes as ``src``, atomically; a hard link when the file system
    allows one (no second serialisation, no extra space), else a byte copy."""
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.link{_TMP_SUFFIX}")
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
        if err.errno in _NO_SPACE:
            raise
    data = src.read_bytes()
    return atomic_write(dst, lambda f: f.write(data))


def remove_stale_temporaries(folder: Union[str, Path]) -> int:
    """Delete temporary files left by writes that were killed; returns how many."""
    folder = Path(folder)
    stale = list(folder.glob(f".*{_TMP_SUFFIX}")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load a fewshot checkpoint with ``weights_only=True``; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncated files, foreign objects
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise CheckpointError(
                f"refusing to load {str(path)!r}: it contains pickled Python objects, which could run "
                f"arbitrary code. fewshot checkpoints hold only tensors and plain values ({msg})"
            ) from None
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {msg}. Is it complete "
                              "and written by fewshot?") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{str(path)!r} is not a fewshot checkpoint (expected keys "
                              "'model' and 'config')")
    return state


def describe(state: Dict[str, Any]) -> str:
    """One phrase saying what a checkpoint holds: learner, backbone, width, channels."""
    model = state.get("config", {}).get("model", {})
    return (f"learner {state.get('learner', model.get('learner'))!r} with backbone "
            f"{state.get('backbone', model.get('backbone'))!r} (width {model.get('width')}, "
            f"{state.get('in_channels')} input channels)")


def check_compatible(state: Dict[str, Any], cfg, path: Union[str, Path]) -> None:
    """Refuse to resume ``cfg`` from a checkpoint written for another model, saying what it is."""
    model = state.get("config", {}).get("model", {})
    wanted = {"learner": cfg.model.learner, "backbone": cfg.model.backbone, "width": cfg.model.width,
              "distance": cfg.model.distance}
    held = {"learner": state.get("learner", model.get("learner")),
            "backbone": state.get("backbone", model.get("backbone")),
            "width": model.get("width"), "distance": model.get("distance")}
    diff = [f"model.{k}={held[k]!r} (config: {wanted[k]!r})" for k in wanted if held[k] != wanted[k]]
    if diff:
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds {describe(state)}, not the model the config asks for: "
            f"{'; '.join(diff)}. Resume without model overrides, or start a new run")
    if state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {state.get('format')!r}; this "
                              f"version of fewshot reads {FORMAT!r}")

"""Errors a data loader raises, worded so that the user knows what to put where."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Sequence, Union


class DataNotFoundError(FileNotFoundError):
    """A data set's files are not where the loader looked for them.

    Subclasses ``FileNotFoundError``, so the CLI reports it as a one-paragraph message.
    """


class CorruptImageError(ValueError):
    """An image file that cannot be decoded (truncated, not an image, unreadable)."""


def missing_data(dataset: str, root: Union[str, Path], expected: Sequence[str],
                 source: str, hint: Optional[str] = None) -> DataNotFoundError:
    """Build the error for a data set that is not on disk.

    Args:
        dataset: registry name, e.g. ``"miniimagenet"``.
        root: the folder that was searched.
        expected: the files or folders the loader looked for, relative to ``root``; for a
            choice of layouts, one line per layout.
        source: where people usually get the data.
        hint: one more sentence (e.g. which option selects another layout).

    Returns:
        A :class:`DataNotFoundError`, to be raised by the caller.
    """
    lines = "\n".join(f"  {root}/{e}" if not e.startswith("/") else f"  {e}" for e in expected)
    msg = (f"data set {dataset!r} not found under {str(root)!r}. Expected:\n{lines}\n"
           f"Nothing is downloaded by fewshot; {source} Point data.root (or --root / --data-root) "
           f"at the folder that holds these files.")
    if hint:
        msg += f" {hint}"
    return DataNotFoundError(msg)


def first_existing(root: Path, candidates: Iterable[str]) -> Optional[Path]:
    """The first of ``root / c`` that exists, or None."""
    for c in candidates:
        if (root / c).exists():
            return root / c
    return None


def check_split(dataset: str, split: str, valid: Sequence[str], aliases: Optional[dict] = None) -> str:
    """Canonical split name, or a ValueError listing the valid ones.

    Args:
        dataset: registry name, for the message.
        split: what the config or command asked for.
        valid: the loader's own split names.
        aliases: other accepted spellings, e.g. ``{"validation": "val"}``.
    """
    s = (aliases or {}).get(split, split)
    if s not in valid:
        also = f" (or {', '.join(sorted(aliases))})" if aliases else ""
        raise ValueError(f"data set {dataset!r} has no split {split!r}; choose one of "
                         f"{', '.join(valid)}{also}")
    return s

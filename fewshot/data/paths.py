"""Where fewshot keeps the data sets it builds or caches."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, "os.PathLike[str]"]


def default_data_dir() -> Path:
    """The default data folder.

    ``$FEWSHOT_DATA`` if set, else ``$XDG_CACHE_HOME/fewshot``, else ``~/.cache/fewshot``.
    The folder is not created here: builders create it when they first write.

    Returns:
        An absolute path (``~`` expanded).
    """
    env = os.environ.get("FEWSHOT_DATA")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "fewshot").resolve()


def resolve_data_dir(root: Optional[PathLike] = None) -> Path:
    """``root`` as a path, or :func:`default_data_dir` when ``root`` is None or empty."""
    if root is None or str(root) == "":
        return default_data_dir()
    return Path(root).expanduser().resolve()

"""Publishing a folder built under a temporary name, so that readers never see half of it."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Callable


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

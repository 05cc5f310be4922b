"""Which code produced a run: the git commit of the fewshot source tree, if it is a checkout."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

_SOURCE = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(_SOURCE), *args], capture_output=True, text=True,
                         timeout=10, check=True)
    return out.stdout.strip()


def code_version() -> Dict[str, object]:
    """``{"commit": short hash or "unknown", "dirty": bool}``; "dirty" means tracked files differ
    from the commit, so the hash alone does not reproduce the run."""
    try:
        commit = _git("rev-parse", "--short=10", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": False}
    return {"commit": commit, "dirty": dirty}


def commit_label(version: Dict[str, object]) -> str:
    """``"abc1234567"`` or ``"abc1234567+dirty"``."""
    commit = str(version.get("commit") or "unknown")
    return commit + ("+dirty" if version.get("dirty") else "")


def record_run(run_dir: Path, resumed_from: Optional[int] = None) -> Dict[str, object]:
    """Write or extend ``RUN_DIR/run.json``: the code version a run started with and, for each
    resume, the episode and code version it continued with."""
    from ..engine.checkpoint import atomic_write_text  # here: reporting must not import torch early

    path = Path(run_dir) / "run.json"
    version = code_version()
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    info: Dict[str, object] = {}
    if resumed_from is not None and path.is_file():
        try:
            info = json.loads(path.read_text())
        except json.JSONDecodeError:
            info = {}
    if resumed_from is None or not info:
        info = {**version, "started": now, "python": platform.python_version(), "resumes": []}
    if resumed_from is not None:
        info.setdefault("resumes", []).append({"episode": resumed_from, "at": now, **version})
    atomic_write_text(path, json.dumps(info, indent=2))
    return info


def run_commit(run_dir: Path) -> str:
    """Commit label recorded in ``RUN_DIR/run.json`` ("unknown" when there is none)."""
    path = Path(run_dir) / "run.json"
    try:
        return commit_label(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError):
        return "unknown"

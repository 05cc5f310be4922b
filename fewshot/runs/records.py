"""The records of a run, all written by rank 0 only: ``metrics.jsonl`` (and its TensorBoard
mirror) and ``run.json`` (provenance: the code a run started and resumed with).

The metrics log of a run: ``metrics.jsonl``, one JSON object per line, appended only.

Rows have a ``kind``:

* ``"train"``: ``episode``, ``loss``, ``acc`` and each loss term (means over the episodes since
  the previous row), ``lr`` and ``episodes_per_s``;
* ``"val"``: ``episode``, ``val_acc``, ``val_ci95`` (fractions in [0, 1]);
* ``"resume"``: ``episode`` the run continued from and ``discarded_rows``.

Resuming: a checkpoint records the log's size in bytes when it was written. Rows after that
belong to episodes the resumed run replays, so the resumed run cuts the file back to that size
(what came before stays byte for byte), writes a ``resume`` row and appends from there. The
reader also drops rows that a ``resume`` row supersedes, for logs cut by hand or not at all.
"""

from __future__ import annotations

import json
import numbers
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..atomic import atomic_write_text

FILENAME = "metrics.jsonl"


class MetricsLog:
    """Append-only writer; ``mirror`` (e.g. a TensorBoard writer) receives every row too.

    Args:
        path: the ``metrics.jsonl`` file.
        resume_offset: None for a new run (any earlier content is from a run that never reached
            its first checkpoint and is discarded); else the byte size recorded in the checkpoint.
        resume_episode: the checkpoint's episode (written in the ``resume`` row).
        mirror: object with ``write(kind, episode, values)`` and ``close()``.
    """

    def __init__(self, path: Union[str, Path], resume_offset: Optional[int] = None,
                 resume_episode: int = 0, mirror: Any = None):
        self.path = Path(path)
        self.mirror = mirror
        size = self.path.stat().st_size if self.path.is_file() else 0
        keep = 0 if resume_offset is None else min(int(resume_offset), size)
        discarded = _count_lines(self.path, keep) if size > keep else 0
        self._file = self.path.open("ab")
        self._file.truncate(keep)
        self._file.seek(keep)
        if resume_offset is not None:
            self.write("resume", resume_episode, discarded_rows=discarded)

    @property
    def offset(self) -> int:
        """Bytes written so far (what a checkpoint records)."""
        return self._file.tell()

    def write(self, kind: str, episode: int, **values: Any) -> None:
        row = {"kind": kind, "episode": int(episode), **values}
        # One write call per row: a kill leaves at most one torn last line (the reader skips it).
        try:
            self._file.write((json.dumps(row) + "\n").encode())
            self._file.flush()
        except OSError as err:  # e.g. a full disk: say which file (the rows before it are kept)
            self._failed = True
            if err.filename is None and err.errno is not None:
                raise OSError(err.errno, os.strerror(err.errno), str(self.path)) from None
            raise
        if self.mirror is not None:
            self.mirror.write(kind, episode, values)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            if not getattr(self, "_failed", False):
                raise  # after a failed write, closing fails the same way: the first error is the one to see
        if self.mirror is not None:
            self.mirror.close()


def _count_lines(path: Path, start: int) -> int:
    with path.open("rb") as f:
        f.seek(start)
        return sum(1 for line in f if line.strip())


def read_metrics(target: Union[str, Path]) -> List[Dict[str, Any]]:
    """Rows of a run's metrics log (a run folder or the file), in order, replays resolved.

    Raises:
        FileNotFoundError: no ``metrics.jsonl`` there.
        ValueError: a line other than the last is not valid JSON (a torn last line, left by a
            killed run, is skipped).
    """
    path = Path(target)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"no metrics log at {str(path)!r}; is this a fewshot run folder?")
    lines = path.read_text().splitlines()
    rows: List[Dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"{str(path)!r} line {number} is not valid JSON: {line[:80]!r}") from None
        if row.get("kind") == "resume":  # rows past the resume point were replayed
            rows = [r for r in rows if r.get("kind") == "resume" or r["episode"] <= row["episode"]]
        rows.append(row)
    return rows


def series(rows: List[Dict[str, Any]], kind: str, key: str) -> Tuple[np.ndarray, np.ndarray]:
    """(episodes, values) of ``key`` over rows of ``kind`` that have it, as float arrays."""
    picked = [(r["episode"], r[key]) for r in rows if r.get("kind") == kind and r.get(key) is not None]
    if not picked:
        return np.zeros(0), np.zeros(0)
    episodes, values = zip(*picked)
    return np.asarray(episodes, dtype=np.float64), np.asarray(values, dtype=np.float64)


class NullLog:
    """Stands in for :class:`MetricsLog` on ranks other than 0."""

    offset = 0

    def write(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- TensorBoard mirror
def tensorboard_available() -> bool:
    """True when ``torch.utils.tensorboard`` imports (it needs the ``tensorboard`` package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


class TensorBoardWriter:
    """``write(kind, episode, values)``: one scalar per numeric value, tag ``kind/name``."""

    def __init__(self, log_dir: Union[str, Path], purge_step: Optional[int] = None):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def write(self, kind: str, episode: int, values: Dict[str, Any]) -> None:
        if kind not in ("train", "val"):
            return
        for name, value in values.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                self._writer.add_scalar(f"{kind}/{name}", float(value), global_step=int(episode))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def open_tensorboard(log_dir: Union[str, Path], resume_episode: Optional[int] = None
                     ) -> Optional[TensorBoardWriter]:
    """A writer, or None when TensorBoard is not installed.

    Args:
        resume_episode: the checkpoint's episode when resuming; later events are purged.
    """
    if not tensorboard_available():
        return None
    purge = None if resume_episode is None else resume_episode + 1
    return TensorBoardWriter(log_dir, purge_step=purge)


def flat_hparams(config: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """A nested config as TensorBoard hparams: ``{"train.lr": 0.001, ...}``; values that are not
    a bool, number or string (lists, dicts of options, None) become their YAML-ish string."""
    out: Dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and prefix.count(".") < 1:  # sections and their option dicts
            out.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = json.dumps(value, sort_keys=True)
    return out


def result_tag(row: Dict[str, Any]) -> str:
    """``test/<data set>-<split>/<N>w<K>s/<weights>[/<method>]`` of a ``results.json`` row."""
    method = row.get("method") or "inductive"
    shape = f"{row.get('n_way', 0)}w{row.get('k_shot', 0)}s"
    tag = f"test/{row.get('dataset', '?')}-{row.get('split', '?')}/{shape}/{row.get('model', '?')}"
    return tag + ("" if method == "inductive" else f"/{method}")


#: what a row's tag shows, when rows sharing a :func:`result_tag` differ in it (in this order)
_TAG_DETAILS = ("seed", "episodes", "n_query", "data_options", "data_root", "image_size", "episode_keys",
                "method_options", "seeds")


def result_tags(rows: List[Dict[str, Any]]) -> List[str]:
    """One distinct tag per row: :func:`result_tag`, and where two rows share it (e.g. the same
    setting at two seeds) the fields they differ in, ``.../seed=7``, so that no evaluation's
    scalar hides another's. Rows equal in all of them get a running number."""
    base = [result_tag(r) for r in rows]
    tags = list(base)
    groups: Dict[str, List[int]] = {}
    for i, tag in enumerate(base):
        groups.setdefault(tag, []).append(i)
    for tag, members in groups.items():
        if len(members) < 2:
            continue
        differ = [k for k in _TAG_DETAILS
                  if len({json.dumps(rows[i].get(k), sort_keys=True, default=str) for i in members}) > 1]
        for i in members:
            parts = []
            for k in differ:
                v = rows[i].get(k)
                text = v if isinstance(v, (str, int, float)) or v is None else json.dumps(v, sort_keys=True)
                parts.append(f"{k}={str(text).replace('/', '-')}"[:60])
            tags[i] = tag + ("/" + ",".join(parts) if parts else "")
        seen: Dict[str, int] = {}
        for i in members:
            seen[tags[i]] = seen.get(tags[i], 0) + 1
            if seen[tags[i]] > 1:
                tags[i] = f"{tags[i]}/{seen[tags[i]]}"
    return tags


def tensorboard_results(log_dir: Union[str, Path], config: Dict[str, Any], rows: List[Dict[str, Any]],
                        step: int = 0) -> Optional[Path]:
    """Add a run's resolved config (as hparams, and as text) and its evaluation results (one
    scalar per setting: accuracy and 95% CI in percent, tag :func:`result_tags`) to its TensorBoard
    events. The HParams tab then compares runs by config against their test accuracies.

    Returns:
        The log folder, or None when TensorBoard is not installed.
    """
    if not tensorboard_available():
        return None
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    metrics = {}
    rows = [r for r in rows if isinstance(r.get("accuracy"), numbers.Real)]
    for r, tag in zip(rows, result_tags(rows)):
        metrics[f"{tag}/accuracy"] = float(r["accuracy"])
        if isinstance(r.get("ci95"), numbers.Real):
            metrics[f"{tag}/ci95"] = float(r["ci95"])
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        exp, ssi, sei = hparams(flat_hparams(config), {k: v for k, v in metrics.items() if k.endswith("/accuracy")})
        for summary in (exp, ssi, sei):
            writer.file_writer.add_summary(summary, int(step))
        writer.add_text("config", "```\n" + json.dumps(config, indent=2, sort_keys=False) + "\n```", int(step))
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, global_step=int(step))
        writer.flush()
    finally:
        writer.close()
    return Path(log_dir)


# ---------------------------------------------------------------- provenance (run.json)
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


_INVOCATION: Dict[str, Any] = {}


def note_invocation(command: Optional[List[str]] = None, overrides: Optional[List[str]] = None) -> None:
    """What the command that starts a run was given (its command line, e.g. ``["fewshot", "train",
    "cfg.yaml", "train.lr=0.01"]``, and its config overrides), for :func:`record_run` to write
    into ``run.json``."""
    _INVOCATION.clear()
    _INVOCATION.update(command=list(sys.argv if command is None else command), overrides=list(overrides or []))


def _cwd_commit() -> Optional[Dict[str, object]]:
    """Commit of the working directory's git repository (the user's experiment code), or None."""
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()

        top = git("rev-parse", "--show-toplevel")
        commit = git("rev-parse", "--short=10", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"path": top, "commit": commit, "dirty": dirty}


def invocation_record() -> Dict[str, object]:
    """The new keys of ``run.json``: ``command`` (the command line), ``argv`` (the process's own),
    ``overrides``, ``cwd``,
    ``cwd_git`` (commit of the working directory's repository, or null), ``torch``, ``cuda``
    (the CUDA version torch was built with, or null) and ``gpus`` (visible CUDA devices)."""
    import torch

    command = _INVOCATION.get("command", sys.argv)
    gpus: List[str] = []
    try:
        if torch.cuda.is_available():
            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except RuntimeError:
        gpus = []
    return {"command": " ".join(shlex.quote(str(a)) for a in command), "argv": list(sys.argv),
            "overrides": list(_INVOCATION.get("overrides", [])), "cwd": os.getcwd(),
            "cwd_git": _cwd_commit(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpus": gpus}


def record_run(run_dir: Path, resumed_from: Optional[int] = None,
               changes: Optional[Dict[str, Tuple[Any, Any]]] = None) -> Dict[str, object]:
    """Write or extend ``RUN_DIR/run.json``: the code version a run started with (and the keys
    of :func:`invocation_record`: command line, overrides, torch / CUDA versions, the working
    directory's commit) and, for each resume, the episode and code version it continued with and
    the settings it changed (``changes``: ``{key: (old, new)}``, as ``{"key": {"from": old, "to": new}}``)."""
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
        info.update(invocation_record())
    if resumed_from is not None:
        entry: Dict[str, object] = {"episode": resumed_from, "at": now, **version}
        if changes:
            entry["changed"] = {k: {"from": a, "to": b} for k, (a, b) in sorted(changes.items())}
        info.setdefault("resumes", []).append(entry)
    atomic_write_text(path, json.dumps(info, indent=2))
    return info


def run_commit(run_dir: Path) -> str:
    """Commit label recorded in ``RUN_DIR/run.json`` ("unknown" when there is none)."""
    path = Path(run_dir) / "run.json"
    try:
        return commit_label(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError):
        return "unknown"

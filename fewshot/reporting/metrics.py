"""The metrics log of a run: ``metrics.jsonl``, one JSON object per line, appended only.

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
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

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
        self._file.write((json.dumps(row) + "\n").encode())
        self._file.flush()
        if self.mirror is not None:
            self.mirror.write(kind, episode, values)

    def close(self) -> None:
        self._file.close()
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

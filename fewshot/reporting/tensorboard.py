"""TensorBoard mirror of the metrics log, used when the optional ``tensorboard`` package is there.

The same scalars as ``metrics.jsonl`` go to ``RUN_DIR/tensorboard/`` under ``train/<name>`` and
``val/<name>`` tags, with the episode as the step. A resumed run opens the writer with
``purge_step``, so TensorBoard drops the events of the episodes that are replayed.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any, Dict, Optional, Union


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

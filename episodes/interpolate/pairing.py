"""Which task each task of a meta-batch is interpolated with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_float, check_int

STRATEGIES = ("random", "released", "cyclic", "self")


@dataclass(frozen=True)
class PairTasks:
    """Choose a partner for every task of a meta-batch of B tasks.

    Strategies:

    * ``"random"`` (MLTI paper, arXiv 2106.02695): the partner of task i is drawn uniformly
      from the other B - 1 tasks (itself when B = 1).
    * ``"released"`` (MLTI's released ProtoNet code): task i is paired with task (i + 1) mod B
      with probability ``p_cross``, else with itself. Paired with itself, a task is still
      mixed with a class-permuted copy of itself (see :class:`AlignClasses`).
    * ``"cyclic"``: always (i + 1) mod B.
    * ``"self"``: every task with itself (intra-task interpolation only).

    Args:
        strategy: one of the names above.
        p_cross: probability of a cross-task pair for ``"released"`` (1/2 in their code).
    """

    strategy: str = "random"
    p_cross: float = 0.5

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown pairing strategy {self.strategy!r}; choose one of {STRATEGIES}")
        check_float("p_cross", self.p_cross, 0.0, 1.0)

    def __call__(self, rng: np.random.Generator, n_tasks: int) -> np.ndarray:
        """Partners of tasks 0..n_tasks-1.

        Returns:
            (n_tasks,) int64 array; entry i is the index of task i's partner.
        """
        b = check_int("n_tasks", n_tasks, 1)
        own = np.arange(b, dtype=np.int64)
        nxt = (own + 1) % b
        if self.strategy == "self" or b == 1:
            return own
        if self.strategy == "cyclic":
            return nxt
        if self.strategy == "released":
            return np.where(rng.random(b) < self.p_cross, nxt, own)
        # Uniform over the other tasks: draw an offset in 1..b-1.
        return (own + rng.integers(1, b, size=b)) % b

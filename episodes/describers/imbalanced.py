"""Class-imbalanced support sets with a chosen shot distribution.

Profiles follow Ochal et al., "Few-Shot Learning with Class Imbalance", 2021,
https://arxiv.org/abs/2101.02523 (random, linear and step imbalance; balanced query).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_float, check_int
from ..classes import ClassIndex
from ..spec import EpisodeSpec
from .base import Describer

PROFILES = ("random", "linear", "step")


@dataclass(frozen=True)
class ImbalancedShots(Describer):
    """``n_way`` classes, shots per class between ``min_shot`` and ``max_shot``, ``n_query``
    queries per class.

    Profiles (shots are then shuffled over the classes, so an episode-local label says nothing
    about its shot count):

    - ``"random"``: each class's shots uniform in {min_shot, ..., max_shot}, independently;
    - ``"linear"``: shots evenly spaced from min_shot to max_shot (rounded);
    - ``"step"``: ``round(step_fraction * n_way)`` minority classes get min_shot, the others
      max_shot.

    Args:
        n_way: classes per episode.
        n_query: query samples per class.
        min_shot: fewest support samples of a class.
        max_shot: most support samples of a class.
        profile: one of "random", "linear", "step".
        step_fraction: share of minority classes for the "step" profile.
    """

    n_way: int = 5
    n_query: int = 15
    min_shot: int = 1
    max_shot: int = 9
    profile: str = "random"
    step_fraction: float = 0.5

    def __post_init__(self) -> None:
        check_int("n_way", self.n_way, 1)
        check_int("n_query", self.n_query, 1)
        check_int("min_shot", self.min_shot, 1)
        check_int("max_shot", self.max_shot, self.min_shot)
        check_float("step_fraction", self.step_fraction, 0.0, 1.0)
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")

    @property
    def min_class_size(self) -> int:  # type: ignore[override]
        return self.max_shot + self.n_query

    @property
    def min_ways(self) -> int:  # type: ignore[override]
        return self.n_way

    def size_requirement(self) -> str:
        return f"max_shot + n_query = {self.max_shot} + {self.n_query} = {self.min_class_size}"

    def shots(self, rng: np.random.Generator) -> np.ndarray:
        """(n_way,) int64 support sizes of one episode, in class order."""
        if self.profile == "random":
            return rng.integers(self.min_shot, self.max_shot + 1, size=self.n_way)
        if self.profile == "linear":
            shots = np.rint(np.linspace(self.min_shot, self.max_shot, self.n_way))
        else:
            n_minority = int(round(self.step_fraction * self.n_way))
            shots = np.where(np.arange(self.n_way) < n_minority, self.min_shot, self.max_shot)
        return rng.permutation(shots.astype(np.int64))

    def __call__(self, rng: np.random.Generator, index: ClassIndex,
                 candidates: np.ndarray) -> EpisodeSpec:
        classes = rng.choice(candidates, size=self.n_way, replace=False).astype(np.int64)
        return EpisodeSpec(classes, self.shots(rng).astype(np.int64),
                           np.full(self.n_way, self.n_query, dtype=np.int64))

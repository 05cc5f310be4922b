"""The default: N-way K-shot episodes with Q queries per class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_int
from ..classes import ClassIndex
from ..spec import EpisodeSpec
from .base import Describer


@dataclass(frozen=True)
class FixedShots(Describer):
    """``n_way`` classes drawn uniformly without replacement, ``k_shot`` support and
    ``n_query`` query samples from each.

    Args:
        n_way: classes per episode.
        k_shot: support samples per class.
        n_query: query samples per class.
    """

    n_way: int = 5
    k_shot: int = 1
    n_query: int = 15

    def __post_init__(self) -> None:
        check_int("n_way", self.n_way, 1)
        check_int("k_shot", self.k_shot, 1)
        check_int("n_query", self.n_query, 1)

    @property
    def min_class_size(self) -> int:  # type: ignore[override]
        return self.k_shot + self.n_query

    @property
    def min_ways(self) -> int:  # type: ignore[override]
        return self.n_way

    @property
    def fixed_shape(self):  # type: ignore[override]
        return (self.n_way, self.k_shot, self.n_query)

    def size_requirement(self) -> str:
        return f"k_shot + n_query = {self.k_shot} + {self.n_query} = {self.min_class_size}"

    def check(self, index: ClassIndex, candidates: np.ndarray) -> None:
        if len(candidates) < self.n_way:
            raise ValueError(
                f"n_way={self.n_way} is more than the {len(candidates)} classes available "
                f"(with at least {self.size_requirement()} samples each); lower n_way")

    def __call__(self, rng: np.random.Generator, index: ClassIndex,
                 candidates: np.ndarray) -> EpisodeSpec:
        classes = rng.choice(candidates, size=self.n_way, replace=False)
        return EpisodeSpec.uniform(classes, self.k_shot, self.n_query)

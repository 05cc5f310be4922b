"""The describer protocol: decide an episode's composition from a random generator."""

from __future__ import annotations

import abc
from typing import Optional, Tuple

import numpy as np

from ..classes import ClassIndex
from ..spec import EpisodeSpec


class Describer(abc.ABC):
    """Decides the composition (:class:`EpisodeSpec`) of episodes.

    A describer holds only its configuration (it is stateless and picklable); all randomness
    comes from the per-episode generator it is called with. Write your own by subclassing and
    setting the three attributes below.

    Attributes:
        min_class_size: fewest samples a class needs to take part in an episode. The sampler
            refuses (or, with ``drop_small_classes=True``, leaves out) smaller classes.
        min_ways: fewest classes one episode uses (grouping describers need it).
        fixed_shape: ``(n_way, k_shot, n_query)`` when every episode has that shape, else None.
    """

    min_class_size: int
    min_ways: int
    fixed_shape: Optional[Tuple[int, int, int]] = None

    @abc.abstractmethod
    def __call__(self, rng: np.random.Generator, index: ClassIndex,
                 candidates: np.ndarray) -> EpisodeSpec:
        """Describe one episode.

        Args:
            rng: the episode's generator.
            index: class sizes (and domains / parents when given to the sampler).
            candidates: (n_candidates,) class positions the episode may use; every one has at
                least ``min_class_size`` samples.
        """

    def check(self, index: ClassIndex, candidates: np.ndarray) -> None:
        """Raise ValueError when no valid episode can be drawn from ``candidates``."""
        if len(candidates) < self.min_ways:
            raise ValueError(
                f"{self!r} needs at least {self.min_ways} classes but only {len(candidates)} "
                f"are available (with at least {self.size_requirement()} samples each)")

    def size_requirement(self) -> str:
        """How ``min_class_size`` arises, for error messages (e.g. 'k_shot + n_query = 16')."""
        return f"min_class_size = {self.min_class_size}"

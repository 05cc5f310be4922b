"""What an episode is made of, separated from which samples fill it.

A describer (see :mod:`episodes.describers`) decides an :class:`EpisodeSpec`: which classes and
how many support and query samples of each. One drawer (:func:`episodes.drawer.draw_indices`)
turns any spec into sample indices, so every kind of episode shares one drawing mechanism.

Index layout of every episode (what the sampler yields, what the collate expects):
the support indices first, class-major (all support samples of the spec's first class, then
of its second class, ...), then the query indices, class-major in the same class order.
Episode-local labels are the class positions in the spec: 0..n_way-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True, eq=False)
class EpisodeSpec:
    """The composition of one episode.

    Attributes:
        classes: (n_way,) class positions into the sampler's ``ClassIndex`` (``sampler.classes``
            gives their original labels); episode-local label ``j`` is ``classes[j]``.
        n_support: (n_way,) support samples of each class (>= 1).
        n_query: (n_way,) query samples of each class (>= 1).
        domain: the domain every class comes from, or None (single domain or mixed episode).
    """

    classes: np.ndarray
    n_support: np.ndarray
    n_query: np.ndarray
    domain: Optional[int] = None

    @property
    def n_way(self) -> int:
        return len(self.classes)

    @property
    def support_size(self) -> int:
        return int(self.n_support.sum())

    @property
    def query_size(self) -> int:
        return int(self.n_query.sum())

    def support_labels(self) -> np.ndarray:
        """(support_size,) int64 episode-local labels of the support, in yielded order."""
        return np.repeat(np.arange(self.n_way, dtype=np.int64), self.n_support)

    def query_labels(self) -> np.ndarray:
        """(query_size,) int64 episode-local labels of the query, in yielded order."""
        return np.repeat(np.arange(self.n_way, dtype=np.int64), self.n_query)

    @staticmethod
    def uniform(classes: np.ndarray, k_shot: int, n_query: int,
                domain: Optional[int] = None) -> "EpisodeSpec":
        """A spec with the same shots and queries for every class."""
        classes = np.asarray(classes, dtype=np.int64)
        return EpisodeSpec(classes, np.full(len(classes), k_shot, dtype=np.int64),
                           np.full(len(classes), n_query, dtype=np.int64), domain)


@dataclass(frozen=True, eq=False)
class Episode:
    """One drawn episode.

    Attributes:
        indices: (support_size + query_size,) int64 sample indices, support then query, each
            class-major (see the module docstring).
        spec: the composition the indices were drawn for.
        epoch: the epoch the episode belongs to.
        index: its position 0..n_episodes-1 in the (unsharded) epoch.
    """

    indices: np.ndarray
    spec: EpisodeSpec
    epoch: int
    index: int

    @property
    def support_indices(self) -> np.ndarray:
        return self.indices[:self.spec.support_size]

    @property
    def query_indices(self) -> np.ndarray:
        return self.indices[self.spec.support_size:]

"""Variable-way variable-shot episodes as Meta-Dataset samples them.

Triantafillou et al., "Meta-Dataset: A Dataset of Datasets for Learning to Learn from Few
Examples", ICLR 2020, https://arxiv.org/abs/1903.03096 (Appendix, "Episode sampling"), following
the official code (google-research/meta-dataset, ``data/sampling.py``) where details differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import check_int
from ..classes import ClassIndex
from ..spec import EpisodeSpec
from .base import Describer


@dataclass(frozen=True)
class VariableWaysShots(Describer):
    """Meta-Dataset's episode composition; every bound configurable, defaults = Meta-Dataset's.

    For each episode, over the candidate classes (all of them, or one domain / super-category):

    1. ways ``N ~ U{min_ways, ..., min(max_ways_upper_bound, n_candidates)}``; ``N`` classes
       drawn uniformly without replacement.
    2. queries per class ``q = min(max_num_query, min_c floor(size_c / 2))`` (same for every
       class).
    3. support budget, with ``beta ~ U(0, 1]`` and ``r_c = size_c - q``:
       ``S = min(max_support_set_size, sum_c ceil(beta * min(max_support_size_contrib_per_class,
       r_c)))`` (so ``S >= N``).
    4. shots: weights ``w_c = size_c * exp(u_c)``, ``u_c ~ U(min_log_weight, max_log_weight)``;
       ``k_c = min(r_c, floor(w_c / sum(w) * (S - N)) + 1)``: at least one shot per class,
       roughly proportional to class frequency with a log-uniform imbalance, never more than
       the class has left after its queries.

    As in the official code (the paper does not say) the weights include the class size
    ``size_c``; step 3 is computed as the code does, ``floor(b * x + 1)`` with ``b ~ U[0, 1)``,
    which equals ``ceil(beta * x)`` with ``beta ~ U(0, 1]`` almost surely.

    Args:
        min_ways: fewest classes per episode.
        max_ways_upper_bound: most classes per episode (capped by the classes available).
        max_num_query: most queries per class.
        max_support_set_size: most support samples per episode.
        max_support_size_contrib_per_class: most a class adds to the support *budget* (a class
            can still receive more shots than this through its weight).
        min_log_weight: lower end of the log-uniform imbalance ``u_c``.
        max_log_weight: upper end of ``u_c``.
        min_class_size: classes with fewer samples are never used (>= 2: one support, one query).
    """

    min_ways: int = 5
    max_ways_upper_bound: int = 50
    max_num_query: int = 10
    max_support_set_size: int = 500
    max_support_size_contrib_per_class: int = 100
    min_log_weight: float = math.log(0.5)
    max_log_weight: float = math.log(2.0)
    min_class_size: int = 2

    def __post_init__(self) -> None:
        check_int("min_ways", self.min_ways, 1)
        check_int("max_ways_upper_bound", self.max_ways_upper_bound, self.min_ways)
        check_int("max_num_query", self.max_num_query, 1)
        # As in Meta-Dataset's sampler, a budget below max_ways_upper_bound is allowed: only an
        # episode whose drawn ways exceed the budget is refused (in __call__).
        check_int("max_support_set_size", self.max_support_set_size, 1)
        check_int("max_support_size_contrib_per_class", self.max_support_size_contrib_per_class, 1)
        check_int("min_class_size", self.min_class_size, 2)
        if not (math.isfinite(self.min_log_weight) and math.isfinite(self.max_log_weight)
                and self.min_log_weight <= self.max_log_weight):
            raise ValueError("need finite min_log_weight <= max_log_weight, got "
                             f"{self.min_log_weight} and {self.max_log_weight}")

    def __call__(self, rng: np.random.Generator, index: ClassIndex,
                 candidates: np.ndarray) -> EpisodeSpec:
        n_way = int(rng.integers(self.min_ways,
                                 min(self.max_ways_upper_bound, len(candidates)) + 1))
        classes = rng.choice(candidates, size=n_way, replace=False)
        sizes = index.sizes[classes]
        n_query = min(self.max_num_query, int((sizes // 2).min()))
        remaining = sizes - n_query
        beta = rng.uniform()
        contributions = np.minimum(self.max_support_size_contrib_per_class, remaining)
        budget = min(self.max_support_set_size,
                     int(np.floor(beta * contributions + 1).sum()))
        if budget < n_way:  # Meta-Dataset refuses such an episode the same way
            raise ValueError(f"VariableWaysShots drew {n_way} ways but max_support_set_size="
                             f"{self.max_support_set_size} allows at most {budget} support examples, "
                             "fewer than one per class; raise max_support_set_size or lower max_ways_upper_bound")
        weights = sizes * np.exp(rng.uniform(self.min_log_weight, self.max_log_weight, n_way))
        shots = np.floor(weights / weights.sum() * (budget - n_way)).astype(np.int64) + 1
        shots = np.minimum(shots, remaining)
        return EpisodeSpec(classes.astype(np.int64), shots,
                           np.full(n_way, n_query, dtype=np.int64))

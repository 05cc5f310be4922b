"""Describers that first pick a group of classes (a domain, a super-category), then let an
inner describer compose the episode within it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from .._checks import check_float
from ..classes import ClassIndex
from ..spec import EpisodeSpec
from .base import Describer


class _Grouped(Describer):
    """Shared plumbing: the inner describer's requirements are the group's."""

    inner: Describer

    @property
    def min_class_size(self) -> int:  # type: ignore[override]
        return self.inner.min_class_size

    @property
    def min_ways(self) -> int:  # type: ignore[override]
        return self.inner.min_ways

    @property
    def fixed_shape(self):  # type: ignore[override]
        return self.inner.fixed_shape

    def size_requirement(self) -> str:
        return self.inner.size_requirement()


@dataclass(frozen=True)
class ByDomain(_Grouped):
    """One domain per episode, drawn with the given weights; all classes from that domain.

    Needs ``domains=`` on the sampler (see :func:`episodes.concat_domains`).

    Args:
        inner: composes the episode within the chosen domain.
        weights: relative frequency of each domain: a sequence indexed by domain id or a
            mapping domain id -> weight (missing ids weigh 0); None for uniform over domains.
        p_mixed: probability of a mixed-domain episode instead (classes from all domains,
            ``spec.domain`` is None).
    """

    inner: Describer
    weights: Optional[Union[Sequence[float], Mapping[int, float]]] = None
    p_mixed: float = 0.0

    def __post_init__(self) -> None:
        check_float("p_mixed", self.p_mixed, 0.0, 1.0)
        if self.weights is not None:
            values = np.asarray(list(self.weights.values()) if isinstance(self.weights, Mapping)
                                else self.weights, dtype=np.float64)
            if values.size == 0 or not np.all(np.isfinite(values)) or values.min() < 0 \
                    or values.sum() <= 0:
                raise ValueError("domain weights must be finite, >= 0 and not all 0, "
                                 f"got {self.weights!r}")

    def _weight(self, domain: int) -> float:
        if self.weights is None:
            return 1.0
        if isinstance(self.weights, Mapping):
            return float(self.weights.get(domain, 0.0))
        return float(self.weights[domain]) if domain < len(self.weights) else 0.0

    def domain_probabilities(self, index: ClassIndex, candidates: np.ndarray):
        """(domain ids, probabilities) of the domains present among ``candidates``."""
        present = np.unique(index.domains[candidates])
        weights = np.array([self._weight(int(d)) for d in present])
        keep = weights > 0
        return present[keep], weights[keep] / weights[keep].sum()

    def check(self, index: ClassIndex, candidates: np.ndarray) -> None:
        if index.domains is None:
            raise ValueError("ByDomain needs the domain of every sample: pass domains= to the "
                             "sampler (episodes.concat_domains builds it)")
        if self.weights is not None:
            wanted = (self.weights.keys() if isinstance(self.weights, Mapping)
                      else range(len(self.weights)))
            present = set(np.unique(index.domains[candidates]).tolist())
            for d in wanted:
                if self._weight(int(d)) > 0 and int(d) not in present:
                    raise ValueError(f"domain {d} has weight {self._weight(int(d))} but no class "
                                     f"with at least {self.size_requirement()} samples")
        domains, _ = self.domain_probabilities(index, candidates)
        if len(domains) == 0:
            raise ValueError("no domain with a positive weight has any usable class")
        for d in domains:
            try:
                self.inner.check(index, candidates[index.domains[candidates] == d])
            except ValueError as err:
                raise ValueError(f"domain {int(d)}: {err}") from None
        if self.p_mixed > 0:
            self.inner.check(index, candidates)

    def __call__(self, rng: np.random.Generator, index: ClassIndex,
                 candidates: np.ndarray) -> EpisodeSpec:
        if self.p_mixed > 0 and rng.random() < self.p_mixed:
            return self.inner(rng, index, candidates)
        domains, probabilities = self.domain_probabilities(index, candidates)
        domain = int(domains[rng.choice(len(domains), p=probabilities)])
        spec = self.inner(rng, index, candidates[index.domains[candidates] == domain])
        return replace(spec, domain=domain)


@dataclass(frozen=True)
class WithinParent(_Grouped):
    """All classes of an episode share one super-category (bi-level hierarchy, as Meta-Dataset
    does for Omniglot alphabets; also tieredImageNet's categories).

    A super-category is drawn uniformly among those with at least ``inner.min_ways`` classes;
    smaller ones are never used (a warning says how many). Needs ``parents=`` on the sampler.

    Args:
        inner: composes the episode within the chosen super-category (ways are capped by its
            number of classes for :class:`VariableWaysShots`).
        p_ignore: probability of ignoring the hierarchy for an episode (classes from anywhere).
    """

    inner: Describer
    p_ignore: float = 0.0

    def __post_init__(self) -> None:
        check_float("p_ignore", self.p_ignore, 0.0, 1.0)

    def eligible_parents(self, index: ClassIndex, candidates: np.ndarray) -> np.ndarray:
        """Parent positions having at least ``inner.min_ways`` candidate classes."""
        parents, counts = np.unique(index.parents[candidates], return_counts=True)
        return parents[counts >= self.inner.min_ways]

    def check(self, index: ClassIndex, candidates: np.ndarray) -> None:
        if index.parents is None:
            raise ValueError("WithinParent needs the super-category of every class: pass "
                             "parents= to the sampler")
        eligible = self.eligible_parents(index, candidates)
        n_parents = len(np.unique(index.parents[candidates]))
        if len(eligible) == 0:
            raise ValueError(f"no super-category has the {self.inner.min_ways} classes an "
                             f"episode needs (with at least {self.size_requirement()} samples)")
        if len(eligible) < n_parents:
            warnings.warn(f"WithinParent: {n_parents - len(eligible)} of {n_parents} "
                          f"super-categories have fewer than {self.inner.min_ways} usable "
                          "classes and are never drawn", UserWarning, stacklevel=3)
        for p in eligible:
            self.inner.check(index, candidates[index.parents[candidates] == p])
        if self.p_ignore > 0:
            self.inner.check(index, candidates)

    def __call__(self, rng: np.random.Generator, index: ClassIndex,
                 candidates: np.ndarray) -> EpisodeSpec:
        if self.p_ignore > 0 and rng.random() < self.p_ignore:
            return self.inner(rng, index, candidates)
        eligible = self.eligible_parents(index, candidates)
        parent = eligible[rng.integers(len(eligible))]
        return self.inner(rng, index, candidates[index.parents[candidates] == parent])

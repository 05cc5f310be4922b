"""The few-task regime: training on a fixed subset of classes or on a fixed, finite pool of tasks.

Meta-learning papers on learning from few tasks (MLTI, https://arxiv.org/abs/2106.02695;
interval-bound interpolation, https://arxiv.org/abs/2204.03511) shrink the task distribution
in one of two ways:

* a fixed subset of the training classes (miniImageNet-S keeps 12 of the 64): episodes are
  drawn as usual, from those classes only -- :class:`ClassSubset`, a describer wrapper;
* a fixed pool of T tasks (classes *and* samples frozen): every episode is one of them --
  :class:`TaskPoolSampler`.

Both are fixed by their own seed (``subset_seed`` / ``pool_seed``), independent of the
training seed, so that every method and training seed sees the same few tasks.
:func:`few_task_sampler` builds the sampler a trainer needs from plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from ._checks import check_int, preview
from .classes import ClassIndex, labels_of
from .describers import Describer, FixedShots
from .sampler import EpisodeSampler, SpecSampler
from .spec import Episode, EpisodeSpec


def choose_classes(labels: Any, n_classes: int, seed: int = 0) -> np.ndarray:
    """A fixed random subset of the classes present in ``labels``.

    Args:
        labels: one label per sample (anything :func:`episodes.labels_of` reads).
        n_classes: how many classes to keep (1..number of classes).
        seed: the subset's own seed.

    Returns:
        (n_classes,) the kept labels, sorted.
    """
    values = np.unique(labels_of(labels))
    n = check_int("n_classes", n_classes, 1)
    if n > len(values):
        raise ValueError(f"cannot keep {n} classes: the labels hold only {len(values)}")
    rng = np.random.default_rng(np.random.SeedSequence([check_int("seed", seed, 0), 0x5E1EC7]))
    return np.sort(values[rng.choice(len(values), size=n, replace=False)])


@dataclass(frozen=True, eq=False)
class ClassSubset(Describer):
    """Episodes of ``describer`` drawn from the classes whose label is in ``keep`` only.

    Args:
        describer: composes each episode (e.g. ``FixedShots(5, 1, 15)``).
        keep: the labels episodes may use (e.g. from :func:`choose_classes`).
    """

    describer: Describer
    keep: tuple

    def __post_init__(self) -> None:
        if not isinstance(self.describer, Describer):
            raise ValueError(f"ClassSubset wraps an episodes.Describer, got {self.describer!r}")
        if len(self.keep) == 0:
            raise ValueError("ClassSubset needs at least one class to keep")

    @property
    def min_class_size(self) -> int:  # type: ignore[override]
        return self.describer.min_class_size

    @property
    def min_ways(self) -> int:  # type: ignore[override]
        return self.describer.min_ways

    @property
    def fixed_shape(self):  # type: ignore[override]
        return self.describer.fixed_shape

    def size_requirement(self) -> str:
        return self.describer.size_requirement()

    def allowed(self, index: ClassIndex, candidates: np.ndarray) -> np.ndarray:
        """The candidate class positions whose label is kept."""
        keep = np.asarray(self.keep)
        return candidates[np.isin(index.labels[candidates], keep)]

    def check(self, index: ClassIndex, candidates: np.ndarray) -> None:
        missing = np.setdiff1d(np.asarray(self.keep), index.labels[candidates])
        if len(missing):
            raise ValueError(f"ClassSubset keeps classes that are absent or too small: {preview(missing)}")
        self.describer.check(index, self.allowed(index, candidates))

    def __call__(self, rng: np.random.Generator, index: ClassIndex, candidates: np.ndarray) -> EpisodeSpec:
        return self.describer(rng, index, self.allowed(index, candidates))

    def __repr__(self) -> str:
        return f"ClassSubset({self.describer!r}, {len(self.keep)} classes)"


class TaskPoolSampler(SpecSampler):
    """Episodes drawn uniformly, with replacement, from a fixed pool of ``n_tasks`` tasks.

    Pool task k is episode k of a sampler seeded with ``pool_seed`` (its classes and samples
    never change); episode i of epoch e picks a pool task with a generator seeded by
    ``(seed, e, i)``, so resuming and sharding behave as for :class:`SpecSampler`.

    Args:
        labels: one label per sample.
        describer: composes the pool's tasks.
        n_tasks: size of the pool (>= 1).
        n_episodes: episodes per epoch.
        seed: seed of the choice of pool task per episode (the training seed).
        pool_seed: seed of the pool itself.
        **kwargs: further :class:`SpecSampler` arguments (``drop_small_classes``, shards, ...).
    """

    def __init__(self, labels: Any, describer: Describer, n_tasks: int, n_episodes: int = 1000,
                 seed: Optional[int] = None, pool_seed: int = 0, **kwargs: Any) -> None:
        super().__init__(labels, describer, n_episodes, seed, **kwargs)
        self.n_tasks = check_int("n_tasks", n_tasks, 1)
        self.pool_seed = check_int("pool_seed", pool_seed, 0)
        self._pool = SpecSampler(labels, describer, n_tasks, pool_seed, advance_epoch=False,
                                 drop_small_classes=kwargs.get("drop_small_classes", False))

    def pool_task(self, k: int) -> Episode:
        """Task ``k`` (0..n_tasks-1) of the pool."""
        return self._pool.episode(k, epoch=0)

    def episode(self, i: int, epoch: Optional[int] = None) -> Episode:
        i = check_int("episode index", i, 0)
        if i >= self.n_episodes:
            raise IndexError(f"episode index {i} out of range for n_episodes={self.n_episodes}")
        epoch = self.epoch if epoch is None else check_int("epoch", epoch, 0)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, i]))
        task = self.pool_task(int(rng.integers(self.n_tasks)))
        return Episode(task.indices, task.spec, epoch, i)

    def state_dict(self, consumed: Optional[int] = None) -> Dict[str, int]:
        return {**super().state_dict(consumed), "n_tasks": self.n_tasks, "pool_seed": self.pool_seed}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        for key in ("n_tasks", "pool_seed"):
            if key in state and int(state[key]) != getattr(self, key):
                raise ValueError(f"sampler state has {key}={state[key]} but this sampler has "
                                 f"{getattr(self, key)}: it was saved for a different task pool")
        super().load_state_dict(state)


def few_task_sampler(labels: Any, n_way: int, k_shot: int, n_query: int, n_episodes: int,
                     seed: int = 0, classes: Union[int, Sequence, None] = None, tasks: int = 0,
                     subset_seed: int = 0, **kwargs: Any) -> SpecSampler:
    """An N-way K-shot training sampler, optionally in the few-task regime.

    Args:
        labels, n_way, k_shot, n_query, n_episodes, seed: as for :class:`EpisodeSampler`.
        classes: None / 0 for every class; an int to keep that many classes chosen with
            ``subset_seed`` (:func:`choose_classes`); or the list of labels to keep.
        tasks: 0 for a new task every episode, else the size of a fixed task pool (seeded
            with ``subset_seed``).
        subset_seed: seed of the class subset and of the task pool.
        **kwargs: further sampler arguments.
    """
    if not classes and not tasks:
        return EpisodeSampler(labels, n_way, k_shot, n_query, n_episodes, seed, **kwargs)
    describer: Describer = FixedShots(n_way, k_shot, n_query)
    if classes:
        keep = (choose_classes(labels, classes, subset_seed) if isinstance(classes, (int, np.integer))
                else np.unique(np.asarray(list(classes))))
        describer = ClassSubset(describer, tuple(keep.tolist()))
    if tasks:
        return TaskPoolSampler(labels, describer, tasks, n_episodes, seed, pool_seed=subset_seed, **kwargs)
    return SpecSampler(labels, describer, n_episodes, seed, **kwargs)

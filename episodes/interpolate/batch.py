"""Meta-batches: B episodes of one shape, stacked along a leading task dimension.

Task interpolation pairs tasks *across* a meta-batch, so it needs the B episodes together.
:func:`meta_batches` groups any stream of episodes; :func:`stack_tasks` stacks B episode
tuples ``(support, support_labels, query, query_labels)`` into one :class:`TaskBatch`.
"""

from __future__ import annotations

from typing import Iterable, Iterator, List, NamedTuple, Sequence, Tuple, TypeVar

import torch

from .._checks import check_int

T = TypeVar("T")
Task = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class TaskBatch(NamedTuple):
    """B episodes of one shape, stacked.

    Attributes:
        support: (B, n_support, *sample_shape) inputs, e.g. (B, N*K, C, H, W).
        support_labels: (B, n_support) int64 episode-local labels 0..n_way-1, or
            (B, n_support, n_way) float soft labels after label-sharing interpolation.
        query: (B, n_query, *sample_shape).
        query_labels: (B, n_query) int64, or (B, n_query, n_way) float soft labels.
    """

    support: torch.Tensor
    support_labels: torch.Tensor
    query: torch.Tensor
    query_labels: torch.Tensor

    @property
    def n_tasks(self) -> int:
        return int(self.support.shape[0])

    def task(self, i: int) -> Task:
        """The ``i``-th episode as a ``(support, support_labels, query, query_labels)`` tuple."""
        return (self.support[i], self.support_labels[i], self.query[i], self.query_labels[i])

    def select(self, order: torch.Tensor) -> "TaskBatch":
        """Tasks reordered (or repeated) by the (B',) index tensor ``order``."""
        return TaskBatch(*(t[order] for t in self))


def stack_tasks(tasks: Sequence[Task]) -> TaskBatch:
    """Stack B episode tuples into a :class:`TaskBatch`.

    Args:
        tasks: B tuples ``(support (n_s, ...), support_labels (n_s,), query (n_q, ...),
            query_labels (n_q,))`` of one shape, e.g. what ``EpisodeCollate`` yields.

    Raises:
        ValueError: no task, a tuple that is not 4 tensors, or episodes of different shapes
            (interpolation pairs samples one to one, so every task must have the same layout).
    """
    if len(tasks) == 0:
        raise ValueError("stack_tasks needs at least one task")
    for i, task in enumerate(tasks):
        if len(task) != 4 or not all(isinstance(t, torch.Tensor) for t in task):
            raise ValueError(f"task {i} must be a tuple of 4 tensors (support, support_labels, "
                             f"query, query_labels), got {type(task).__name__} of length {len(task)}")
    for part, name in enumerate(TaskBatch._fields):
        shapes = {tuple(task[part].shape) for task in tasks}
        if len(shapes) > 1:
            raise ValueError(f"tasks of a meta-batch must share one shape, but their {name} "
                             f"have shapes {sorted(shapes)}; use a sampler with fixed "
                             "n_way, k_shot and n_query")
    return TaskBatch(*(torch.stack([task[p] for task in tasks]) for p in range(4)))


def meta_batches(items: Iterable[T], size: int, drop_last: bool = False) -> Iterator[List[T]]:
    """Group a stream (episodes, index lists, ...) into lists of ``size`` consecutive items.

    Lazy: an item is pulled only when its group is being filled, so a sampler's position
    (``state_dict``) after a yielded group counts exactly the episodes handed out.

    Args:
        items: any iterable.
        size: items per group (the meta-batch size B, >= 1).
        drop_last: leave out a final group shorter than ``size`` instead of yielding it.
    """
    size = check_int("size", size, 1)
    group: List[T] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group and not drop_last:
        yield group

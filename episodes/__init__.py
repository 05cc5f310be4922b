"""episodes: a plug-in episode sampler for few-shot learning (depends on torch and numpy only).

Usage with any map-style data set::

    from episodes import EpisodeSampler, EpisodeCollate
    sampler = EpisodeSampler(dataset.targets, n_way=5, k_shot=1, n_query=15,
                             n_episodes=1000, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler,
                        collate_fn=EpisodeCollate.from_sampler(sampler))
    for support, support_labels, query, query_labels in loader: ...

With all data in one tensor, ``TensorEpisodes(images, sampler, device="cuda")`` yields the same
tuples from one gather per episode. Other episode kinds: ``SpecSampler(labels, describer)`` with
a describer from :mod:`episodes.describers`.

Every episode lists its support indices first, class-major (class 0's shots, then class 1's,
...), then its query indices, class-major; labels are episode-local, 0..n_way-1.
"""

__version__ = "0.1.0"  # the fewshot-episodes distribution (packaging/episodes/pyproject.toml)

from .classes import ClassIndex, concat_domains
from .collate import EpisodeCollate, infer_layout
from .describers import (
    ByDomain,
    Describer,
    FixedShots,
    ImbalancedShots,
    VariableWaysShots,
    WithinParent,
)
from .drawer import draw_indices
from .fewtask import ClassSubset, TaskPoolSampler, choose_classes, few_task_sampler
from .interpolate import MLTIMixer, TaskBatch, meta_batches, stack_tasks
from .labels import labels_of
from .sampler import EpisodeSampler, SpecSampler
from .spec import Episode, EpisodeSpec
from .tensor import TensorEpisodes

__all__ = [
    "EpisodeSampler", "SpecSampler", "EpisodeCollate", "TensorEpisodes", "EpisodeSpec",
    "Episode", "Describer", "FixedShots", "VariableWaysShots", "ImbalancedShots", "ByDomain",
    "WithinParent", "ClassIndex", "labels_of", "concat_domains", "draw_indices", "infer_layout",
    "ClassSubset", "TaskPoolSampler", "choose_classes", "few_task_sampler", "MLTIMixer", "TaskBatch",
    "meta_batches", "stack_tasks",
]

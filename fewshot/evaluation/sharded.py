"""Evaluation shared out over the ranks of a distributed run, results gathered on every rank."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, List

import numpy as np

from ..runs.ranks import all_gather_object, broadcast_object, is_main, rank, world_size

__all__ = ["evaluate_sharded", "merge_shards"]


def merge_shards(results: List[Any]) -> Any:
    """One :class:`~fewshot.evaluation.evaluate.EvalResult` from the results of W shards.

    Shard r evaluated global episodes r, r + W, ...; the merged result lists every episode in
    the single-process order (so its mean, CI and per-episode CSV are the same).
    """
    world = len(results)
    if world == 1:
        return results[0]
    total = sum(r.episodes for r in results)
    order = [(i % world, i // world) for i in range(total)]  # (shard, position in the shard)
    per_episode = {"accuracies": [r.accuracies for r in results],
                   "ways": [r.ways for r in results], "domains": [r.domains for r in results]}
    merged = {key: np.asarray([arrays[s][p] for s, p in order]) for key, arrays in per_episode.items()
              if all(a is not None for a in arrays)}
    for key in ("shots", "queries"):  # per class: split each shard's array by its episodes' ways
        if all(getattr(r, key) is not None and r.ways is not None for r in results):
            pieces = [np.split(getattr(r, key), np.cumsum(r.ways)[:-1]) for r in results]
            merged[key] = np.concatenate([pieces[s][p] for s, p in order])
    first = results[0]
    common = {k: (getattr(first, k) if all(getattr(r, k) == getattr(first, k) for r in results) else 0)
              for k in ("n_way", "k_shot", "n_query")}
    return dataclasses.replace(first, seconds=max(r.seconds for r in results), **common, **merged)


def evaluate_sharded(evaluate: Callable[..., Any], learner, split, normalizer, sampler, **kwargs) -> Any:
    """``evaluate(learner, split, normalizer, sampler=...)`` with the episodes shared out over the
    ranks and the results gathered on every rank (a plain call in a single-process run)."""
    if world_size() == 1:
        return evaluate(learner, split, normalizer, sampler=sampler, **kwargs)
    if sampler.world_size != 1:
        raise ValueError("evaluate_sharded() shards the sampler itself; pass an unsharded one")
    shard = sampler.shard(rank(), world_size()) if world_size() <= sampler.n_episodes else sampler
    if shard is sampler:  # fewer episodes than ranks: rank 0 evaluates them all
        res = evaluate(learner, split, normalizer, sampler=sampler, **kwargs) if is_main() else None
        return broadcast_object(res)
    return merge_shards(all_gather_object(evaluate(learner, split, normalizer, sampler=shard, **kwargs)))

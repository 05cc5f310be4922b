"""Data-parallel training on ``torch.distributed`` (one process per device, started by torchrun).

``torchrun --nproc_per_node=P -m fewshot train CONFIG`` starts P processes; each reads its place
from the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). With ``WORLD_SIZE`` unset or 1 every function here is a no-op and training is
the plain single-process loop.

How the work is split (see :func:`fewshot.engine.trainer.train`): the episode sampler is sharded
(rank r draws global episodes r, r + W, ...), each rank runs ``meta_batch / W`` episodes per
optimiser step and :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients,
so a step sees the gradient of the same ``meta_batch`` episodes as a single process. Only rank 0
writes files; validation episodes are sharded the same way and the accuracies gathered.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = ["init", "cleanup", "world_size", "rank", "is_main", "barrier", "broadcast_object",
           "all_gather_object", "wrap", "sync_context", "mean_over_ranks", "evaluate_sharded",
           "merge_shards", "NullLog", "check_train", "rank_seed"]


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer; it is set by "
                         "torchrun (start distributed runs with torchrun or fewshot train --nproc)") from None


def init(device: str) -> str:
    """Join the process group torchrun prepared; return this rank's device.

    Backend nccl when ``device`` is CUDA (each rank takes ``cuda:LOCAL_RANK``), gloo otherwise.
    Does nothing (and returns ``device``) outside torchrun or with one process.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1 or dist.is_initialized():
        return _local_device(device)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            raise ValueError(f"train.device is {device!r} but no CUDA device is available; use train.device=cpu")
        local = _env_int("LOCAL_RANK", 0)
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local} but only {torch.cuda.device_count()} CUDA device(s) are "
                             "visible; start at most that many processes per machine (--nproc_per_node)")
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    return _local_device(device)


def _local_device(device: str) -> str:
    """``cuda`` / ``cuda:N`` become ``cuda:LOCAL_RANK`` in a distributed run (one device per rank)."""
    if _env_int("WORLD_SIZE", 1) > 1 and torch.device(device).type == "cuda":
        return f"cuda:{_env_int('LOCAL_RANK', 0)}"
    return device


def cleanup() -> None:
    """Leave the process group (when one was joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """True on rank 0 (and in a single-process run): the one process that writes files."""
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (e.g. a run folder named after the clock)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj: Any) -> List[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if world_size() == 1:
        return [obj]
    out: List[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


class _Step(nn.Module):
    """The training step as a module, so that DDP sees every learner through one ``forward``."""

    def __init__(self, learner: nn.Module):
        super().__init__()
        self.learner = learner

    def forward(self, tasks: List[tuple], n_way: int, grouped: bool) -> Dict[str, torch.Tensor]:
        if grouped:
            return self.learner.meta_batch_loss(tasks, n_way)
        return self.learner.episode_loss(*tasks[0], n_way)


def wrap(learner: nn.Module) -> Optional[nn.Module]:
    """The learner's training step under DDP; None in a single-process run.

    Call the result as ``step(tasks, n_way, grouped)``. ``find_unused_parameters`` is on because
    a learner may leave some parameters out of a step (e.g. an evaluation-only head).
    """
    return ddp(_Step(learner))


def ddp(module: nn.Module) -> Optional[nn.Module]:
    """``module`` under DistributedDataParallel (gradients all-reduced); None in a single-process run."""
    if world_size() == 1:
        return None
    device = next(module.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def sync_context(step: Optional[nn.Module], sync: bool):
    """``step.no_sync()`` for the local accumulation steps of a meta-batch; all-reduce on the last."""
    if step is None or sync:
        return contextlib.nullcontext()
    return step.no_sync()


def mean_over_ranks(out: Dict[str, Any]) -> Dict[str, Any]:
    """The mean of every scalar of ``out`` over the ranks, as 0-dim tensors (one all-reduce).

    Every rank then logs, checks for NaN and checkpoints the same numbers.
    """
    if world_size() == 1:
        return out
    keys = sorted(out)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    values = torch.tensor([float(out[k].detach() if torch.is_tensor(out[k]) else out[k]) for k in keys],
                          dtype=torch.float64, device=device)
    dist.all_reduce(values)
    values = (values / world_size()).cpu()
    return {k: values[i] for i, k in enumerate(keys)}


def merge_shards(results: List[Any]) -> Any:
    """One :class:`~fewshot.evaluation.evaluate.EvalResult` from the results of W shards.

    Shard r evaluated global episodes r, r + W, ...; the merged result lists every episode in
    the single-process order (so its mean, CI and per-episode CSV are the same).
    """
    import dataclasses

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


class NullLog:
    """Stands in for :class:`~fewshot.reporting.metrics.MetricsLog` on ranks other than 0."""

    offset = 0

    def write(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def check_train(train: Any) -> None:
    """Refuse a ``train`` section that cannot be split over the ranks exactly (ValueError)."""
    world = world_size()
    if world == 1:
        return
    b = train.meta_batch
    if b % world:
        raise ValueError(f"train.meta_batch={b} is not a multiple of the {world} processes: each process "
                         f"runs meta_batch / {world} episodes of every optimiser step; set "
                         f"train.meta_batch to a multiple of {world}")
    if train.episodes % world:
        raise ValueError(f"train.episodes={train.episodes} is not a multiple of the {world} processes, "
                         "whose steps must stay in lockstep; choose a multiple")
    if train.ckpt_every % b:
        raise ValueError(f"train.ckpt_every={train.ckpt_every} is not a multiple of train.meta_batch={b}: "
                         "a distributed run checkpoints between optimiser steps only (each process "
                         "holds its own part of an unfinished step); choose a multiple")


def rank_seed(seed: int) -> int:
    """The seed of this rank's global generators (augmentation, mixing coefficients, ...): the
    ranks draw different random numbers, reproducibly for a given seed and world size."""
    return int(np.random.SeedSequence([seed, rank(), world_size()]).generate_state(1)[0])

"""Data-parallel training on ``torch.distributed`` (one process per device, started by torchrun).

``torchrun --nproc_per_node=P -m fewshot train CONFIG`` starts P processes; each reads its place
from the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). With ``WORLD_SIZE`` unset or 1 every function here is a no-op and training is
the plain single-process loop.

How the work is split (see :class:`fewshot.engine.trainer.EpisodeStep`): the episode sampler is sharded
(rank r draws global episodes r, r + W, ...), each rank runs ``meta_batch / W`` episodes per
optimiser step and :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients,
so a step sees the gradient of the same ``meta_batch`` episodes as a single process. Only rank 0
writes files; validation episodes are sharded the same way and the accuracies gathered.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from ..runs.ranks import world_size

__all__ = ["wrap", "ddp", "sync_context", "check_train"]


class _Step(nn.Module):
    """The training step as a module, so that DDP sees every learner through one ``forward``."""

    def __init__(self, learner: nn.Module):
        super().__init__()
        self.learner = learner

    def forward(self, tasks: List[tuple], n_way: int) -> Dict[str, torch.Tensor]:
        return self.learner.meta_batch_loss(tasks, n_way)


def wrap(learner: nn.Module) -> Optional[nn.Module]:
    """The learner's training step under DDP; None in a single-process run.

    Call the result as ``step(tasks, n_way)``. ``find_unused_parameters`` is on because
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

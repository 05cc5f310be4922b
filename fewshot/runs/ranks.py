"""Process-group basics on ``torch.distributed`` (one process per device, started by torchrun).

``torchrun --nproc_per_node=P -m fewshot train CONFIG`` starts P processes; each reads its place
from the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). With ``WORLD_SIZE`` unset or 1 every function here is a no-op. Training's DDP
wrapping is in :mod:`fewshot.engine.distributed`, sharded evaluation in
:mod:`fewshot.evaluation.sharded`.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Dict, List

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["init", "cleanup", "world_size", "rank", "is_main", "barrier", "broadcast_object",
           "all_gather_object", "mean_over_ranks", "rank_seed", "resolve_device"]


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer; it is set by "
                         "torchrun (start distributed runs with torchrun or fewshot train --nproc)") from None


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is available, else ``cpu``; other names unchanged."""
    if str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def init(device: str) -> str:
    """Join the process group torchrun prepared; return this rank's device (``auto`` resolved).

    Backend nccl when ``device`` is CUDA (each rank takes ``cuda:LOCAL_RANK``), gloo otherwise.
    Does nothing (and returns ``device``) outside torchrun or with one process.
    """
    device = resolve_device(device)
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


def cleanup(finished: bool = False) -> None:
    """Leave the process group (when one was joined).

    ``finished``: this rank's work ended without error, so it waits for the other ranks first and
    all leave together. (Once, in CI, a 2-process CPU run finished its work and then rank 1
    aborted in teardown, "terminate called without an active exception", while rank 0 was still
    writing; torchrun then called the run failed. Leaving together closes that window.) On an
    error no rank waits: torchrun stops the others when this one exits.
    """
    if dist.is_initialized():
        if finished:
            barrier()
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


def rank_seed(seed: int) -> int:
    """The seed of this rank's global generators (augmentation, mixing coefficients, ...): the
    ranks draw different random numbers, reproducibly for a given seed and world size."""
    return int(np.random.SeedSequence([seed, rank(), world_size()]).generate_state(1)[0])

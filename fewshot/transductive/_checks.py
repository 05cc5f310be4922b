"""Validation of a batch of episodes, shared by every transductive method."""

from __future__ import annotations

import torch


def check_episodes(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int) -> None:
    """Raise ValueError unless (zs, ys, zq) is a well-formed batch of ``n_way``-way episodes.

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels in 0..n_way-1, every class present in every episode.
        zq: (E, Q, D) query features.
        n_way: number of classes per episode.
    """
    if not isinstance(n_way, int) or n_way < 1:
        raise ValueError(f"n_way must be a positive integer, got {n_way!r}")
    if zs.dim() != 3 or zq.dim() != 3:
        raise ValueError(f"support and query features must be (episodes, points, dim) tensors, got "
                         f"shapes {tuple(zs.shape)} and {tuple(zq.shape)}; add a leading episode axis "
                         "(x.unsqueeze(0)) for a single episode")
    if not (zs.is_floating_point() and zq.is_floating_point()):
        raise ValueError(f"features must be floating point, got {zs.dtype} and {zq.dtype}")
    if zs.shape[0] != zq.shape[0] or zs.shape[2] != zq.shape[2]:
        raise ValueError(f"support {tuple(zs.shape)} and query {tuple(zq.shape)} features disagree on "
                         "the number of episodes or the feature dimension")
    if tuple(ys.shape) != tuple(zs.shape[:2]):
        raise ValueError(f"support labels must have shape (episodes, support) = {tuple(zs.shape[:2])}, "
                         f"got {tuple(ys.shape)}")
    if ys.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"support labels must be integers, got {ys.dtype}")
    if zq.shape[1] == 0:
        raise ValueError("every episode needs at least one query")
    if ys.numel() and (int(ys.min()) < 0 or int(ys.max()) >= n_way):
        raise ValueError(f"support labels must lie in 0..{n_way - 1} (episode-local labels), got values "
                         f"in {int(ys.min())}..{int(ys.max())}")
    counts = torch.nn.functional.one_hot(ys.long(), n_way).sum(1)  # (E, n_way)
    if bool((counts == 0).any()):
        bad = int((counts == 0).any(1).nonzero()[0])
        raise ValueError(f"episode {bad} has no support example of class "
                         f"{int((counts[bad] == 0).nonzero()[0])}; every class needs at least one shot")

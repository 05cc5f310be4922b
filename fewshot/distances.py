"""Distances between two sets of embeddings, as (n, m) matrices (larger = farther).

Learners turn them into logits as ``-scale * distance``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .registry import Registry


def squared_euclidean(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j||^2 for x: (..., n, d), y: (..., m, d) -> (..., n, m), via the expansion (one
    matmul), batched over any leading dimensions (episodes); clamped at 0 (the expansion can
    round below). The one squared distance of fewshot (learners and transductive methods)."""
    d = x.pow(2).sum(-1, keepdim=True) - 2.0 * x @ y.transpose(-1, -2) + y.pow(2).sum(-1).unsqueeze(-2)
    return d.clamp_min(0.0)


def euclidean(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j|| (with a small epsilon inside the root so gradients stay finite)."""
    return (squared_euclidean(x, y) + 1e-6).sqrt()


def cosine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - cos(x_i, y_j)."""
    return 1.0 - F.normalize(x, dim=1) @ F.normalize(y, dim=1).t()


#: ``model.distance`` -> ``fn(x (n, d), y (m, d)) -> (n, m)``; register your own with
#: ``@DISTANCES.register("name")``.
DISTANCES = Registry("distance")
DISTANCES.add("sqeuclidean", squared_euclidean)
DISTANCES.add("euclidean", euclidean)
DISTANCES.add("cosine", cosine)


def get_distance(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The distance registered as ``name``; an unknown name is a ValueError listing the names."""
    return DISTANCES.get(name)

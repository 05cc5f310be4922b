"""Distances between two sets of embeddings, as (n, m) matrices (larger = farther).

Learners turn them into logits as ``-scale * distance``.
"""

from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn.functional as F


def squared_euclidean(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j||^2 for x: (n, d), y: (m, d) -> (n, m), via the expansion (one matmul)."""
    d = x.pow(2).sum(1, keepdim=True) - 2.0 * x @ y.t() + y.pow(2).sum(1).unsqueeze(0)
    return d.clamp_min(0.0)


def euclidean(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j|| (with a small epsilon inside the root so gradients stay finite)."""
    return (squared_euclidean(x, y) + 1e-6).sqrt()


def cosine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - cos(x_i, y_j)."""
    return 1.0 - F.normalize(x, dim=1) @ F.normalize(y, dim=1).t()


DISTANCES: Dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "sqeuclidean": squared_euclidean,
    "euclidean": euclidean,
    "cosine": cosine,
}


def get_distance(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name not in DISTANCES:
        raise ValueError(f"unknown distance {name!r}; available: {', '.join(DISTANCES)}")
    return DISTANCES[name]

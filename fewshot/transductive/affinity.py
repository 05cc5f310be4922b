"""Batched squared distances and the kNN affinity graph of the Laplacian methods.

A graph is given either densely, W (E, P, P) float, or as neighbour lists (E, P, m) int64 for a
binary graph (w_pq = 1 for the m listed q of each p). Neighbour lists make W @ Z a gather of
m rows instead of a P x P product; both forms give the same numbers.
"""

from __future__ import annotations

import torch

from ..distances import squared_euclidean

#: ||x_p - y_k||^2 batched over episodes: x (E, P, D), y (E, K, D) -> (E, P, K); the one squared
#: distance of fewshot (:func:`fewshot.distances.squared_euclidean`).
sq_dists = squared_euclidean


def knn_neighbours(x: torch.Tensor, knn: int = 3) -> torch.Tensor:
    """Indices of the ``knn - 1`` nearest *other* points of every point: (E, P, knn - 1) int64.

    As in LaplacianShot and SLK, ``knn`` counts the point itself (``knn=3`` keeps two
    neighbours). The point itself is excluded explicitly rather than assumed to come first, so
    duplicate points cannot push it out of the list.

    Args:
        x: (E, P, D) points of each episode.
        knn: neighbours per point including itself (>= 2).
    """
    n_points = x.shape[1]
    if not isinstance(knn, int) or knn < 2:
        raise ValueError(f"knn counts the point itself and must be an integer >= 2, got {knn!r}")
    if knn > n_points:
        raise ValueError(f"knn={knn} needs at least {knn} points per episode, got {n_points}; "
                         "use a smaller knn")
    eye = torch.eye(n_points, dtype=torch.bool, device=x.device)
    d = sq_dists(x, x).masked_fill(eye, float("inf"))
    # knn is small: knn - 1 passes of argmin beat topk on CPU, and ties go to the lower index
    picked = []
    for _ in range(knn - 1):
        nearest = d.argmin(-1, keepdim=True)
        picked.append(nearest)
        d.scatter_(-1, nearest, float("inf"))
    return torch.cat(picked, -1)


def knn_affinity(x: torch.Tensor, knn: int = 3) -> torch.Tensor:
    """Dense binary kNN graph: w_pq = 1 when q is one of the ``knn - 1`` nearest other points of p.

    Not symmetrised (row p lists p's neighbours, so ``W @ Z`` sums the assignments of each
    point's neighbours); zero diagonal. x: (E, P, D) -> (E, P, P) of x's dtype.
    """
    idx = knn_neighbours(x, knn)
    w = torch.zeros(x.shape[0], x.shape[1], x.shape[1], dtype=x.dtype, device=x.device)
    return w.scatter_(-1, idx, 1.0)


def propagate(affinity: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """b_p = sum_q w_pq z_q. affinity: dense (E, P, P) or neighbours (E, P, m); z: (E, P, K)."""
    if affinity.is_floating_point():
        return affinity @ z
    # one gather per neighbour column, added up (faster than a gather + sum over a small axis)
    cols = affinity.unsqueeze(-1).expand(-1, -1, -1, z.shape[-1])
    b = torch.gather(z, 1, cols[:, :, 0])
    for j in range(1, affinity.shape[-1]):
        b = b + torch.gather(z, 1, cols[:, :, j])
    return b


def edge_sum(affinity: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """sum_{p,q} w_pq v_pq per episode. values: (E, P, P) -> (E,)."""
    if affinity.is_floating_point():
        return (affinity * values).flatten(1).sum(1)
    return values.gather(-1, affinity).flatten(1).sum(1)

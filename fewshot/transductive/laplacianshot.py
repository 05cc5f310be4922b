"""LaplacianShot (Ziko et al., ICML 2020, https://arxiv.org/abs/2006.15486), batched.

Prototypes stay fixed (optionally rectified first); the queries' assignments minimise
unary (squared distance to the prototypes) + entropy - lam * Laplacian over a kNN graph of the
queries, by the bound optimiser. This is the per-query-graph form of the official code and of
easyfsl's ``LaplacianShot``; :func:`~fewshot.transductive.clustering.laplacian_kmeans` is the
form that also updates the prototypes and puts the support in the graph.
"""

from __future__ import annotations

import torch

from .affinity import knn_neighbours, sq_dists
from .bound import bound_update
from .prototypes import prototypes, rectify_prototypes
from .registry import register_method


@register_method("laplacianshot", has_lambda=True)
def laplacianshot(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                  lam: float = 0.7, knn: int = 3, rectify: bool = True, rectify_eps: float = 10.0,
                  max_iter: int = 20, tol: float = 1e-6) -> torch.Tensor:
    """LaplacianShot: fixed (rectified) prototypes, bound updates over a query kNN graph.

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: classes.
        lam: Laplacian weight.
        knn: neighbours per query, itself included (3 -> two neighbours).
        rectify: rectify the prototypes with the queries (BD-CSPN) before the bound updates.
        rectify_eps: cosine temperature of the rectification (paper 10; easyfsl 1).
        max_iter, tol: bound optimiser cap (20) and relative tolerance (1e-6).

    Returns:
        (E, Q, n_way) query soft assignments.
    """
    if lam < 0:
        raise ValueError(f"the Laplacian weight lam must be >= 0, got {lam}")
    protos = (rectify_prototypes(zs, ys, zq, n_way, rectify_eps) if rectify
              else prototypes(zs, ys, n_way))
    unary = sq_dists(zq, protos)
    affinity = knn_neighbours(zq, knn) if lam != 0 else None
    return bound_update(unary, affinity, lam, None, max_iter, tol).z

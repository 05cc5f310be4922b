"""LaplacianShot (Ziko et al., ICML 2020, https://arxiv.org/abs/2006.15486), batched.

Prototypes stay fixed (rectified first by default); the queries' assignments minimise
unary (squared distance to the prototypes) + entropy - lam * Laplacian over a kNN graph of the
queries, by the bound optimiser. This is the per-query-graph form of the official code
(imtiazziko/LaplacianShot, ``metric_class_type`` + ``lshot_prediction``);
:func:`~fewshot.transductive.clustering.laplacian_kmeans` is the form that also updates the
prototypes and puts the support in the graph.

Defaults reproduce the official code run as its ``run.sh`` does (``--proto-rect True``): the
queries are shifted by mean(support) - mean(query) before anything else (so the unary term,
the graph and the rectification all see shifted queries), then the prototypes are rectified
with softmax-over-classes weights (:func:`~.prototypes.softmax_rectify_prototypes`), then at
most 20 bound updates with relative tolerance 1e-6.

Variants (option ``rectify``):

* ``"official"`` (default): as above.
* ``"bdcspn"``: this project's earlier default: BD-CSPN's member-normalised weights
  exp(eps * cos) (:func:`~.prototypes.rectify_prototypes`), queries shifted for the
  rectification only; the unary term and the graph use the unshifted queries. With
  ``rectify_eps=1`` it is easyfsl 1.5.0's ``LaplacianShot``.
* ``"none"``: plain support means, no shift (the official code without ``--proto-rect``).
"""

from __future__ import annotations

from typing import Union

import torch

from .affinity import knn_neighbours, sq_dists
from .bound import bound_update
from .preprocess import shift_queries
from .prototypes import prototypes, rectify_prototypes, softmax_rectify_prototypes
from .registry import register_method

RECTIFY = ("official", "bdcspn", "none")


@register_method("laplacianshot", has_lambda=True)
def laplacianshot(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                  lam: float = 0.7, knn: int = 3, rectify: Union[str, bool] = "official",
                  rectify_eps: float = 10.0, max_iter: int = 20, tol: float = 1e-6) -> torch.Tensor:
    """LaplacianShot: fixed (rectified) prototypes, bound updates over a query kNN graph.

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: classes.
        lam: Laplacian weight (the official code tunes it on the validation split from
            0.1 ... 1.5; its command-line default is 1.0).
        knn: neighbours per query, itself included (3 -> two neighbours).
        rectify: "official" (default), "bdcspn" or "none" (module docstring); True is
            "official", False is "none".
        rectify_eps: cosine temperature of the rectification (official 10; easyfsl 1).
        max_iter, tol: bound optimiser cap (20) and relative tolerance (1e-6).

    Returns:
        (E, Q, n_way) query soft assignments.
    """
    if lam < 0:
        raise ValueError(f"the Laplacian weight lam must be >= 0, got {lam}")
    if isinstance(rectify, bool):
        rectify = "official" if rectify else "none"
    if rectify not in RECTIFY:
        raise ValueError(f"unknown LaplacianShot rectify {rectify!r}; choose one of {', '.join(RECTIFY)}")
    if rectify == "official":
        zq = shift_queries(zs, zq)
        protos = softmax_rectify_prototypes(zs, ys, zq, n_way, rectify_eps)
    elif rectify == "bdcspn":
        protos = rectify_prototypes(zs, ys, zq, n_way, rectify_eps)
    else:
        protos = prototypes(zs, ys, n_way)
    unary = sq_dists(zq, protos)
    affinity = knn_neighbours(zq, knn) if lam != 0 else None
    return bound_update(unary, affinity, lam, None, max_iter, tol).z

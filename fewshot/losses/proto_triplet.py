"""Proto-Triplet loss (Mendez-Ruiz et al. 2023, "SuSana Distancia is all you need",
https://arxiv.org/abs/2305.09062).

For each query the anchor is the query embedding, the positive its own class prototype and the
negative the *nearest* (hardest) prototype of another class:

    d(q, c)  = sqrt(||q - c||^2 + 1e-6)
    L_PT     = mean_q max(0, d(q, c_y) - min_{k != y} d(q, c_k) + margin),  margin = 0.5.

The 1e-6 inside the root follows the authors' code (maumruiz/FSL-Loss): it keeps the gradient of
the root finite when a query sits on a prototype.
"""

from __future__ import annotations

import torch

from ..distances import euclidean


def proto_triplet_loss(queries: torch.Tensor, query_labels: torch.Tensor, prototypes: torch.Tensor,
                       margin: float = 0.5) -> torch.Tensor:
    """Hardest-negative triplet loss between queries and class prototypes.

    Args:
        queries: (n_query, D) query embeddings.
        query_labels: (n_query,) integer labels in 0..n_way-1 (row k of ``prototypes`` is class k).
        prototypes: (n_way, D) class prototypes, n_way >= 2.
        margin: m >= 0 in max(0, d_pos - d_neg + m).

    Returns:
        Scalar tensor: the mean over queries.
    """
    n_way = prototypes.shape[0]
    if n_way < 2:
        raise ValueError(f"proto_triplet_loss needs at least 2 prototypes (a negative), got {n_way}")
    if queries.ndim != 2 or queries.shape[1] != prototypes.shape[1]:
        raise ValueError(f"queries {tuple(queries.shape)} and prototypes {tuple(prototypes.shape)} "
                         "must be (n, D) and (n_way, D) with the same D")
    if query_labels.min() < 0 or query_labels.max() >= n_way:
        raise ValueError(f"query_labels must lie in 0..{n_way - 1} (one prototype per class)")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    dist = euclidean(queries, prototypes)  # (n_query, n_way), sqrt(. + 1e-6)
    own = torch.nn.functional.one_hot(query_labels, n_way).bool()
    positive = dist[own]  # (n_query,) distance to the own prototype
    # Own class masked with +inf so the min picks the hardest *wrong* prototype.
    negative = dist.masked_fill(own, float("inf")).min(dim=1).values
    return torch.relu(positive - negative + margin).mean()

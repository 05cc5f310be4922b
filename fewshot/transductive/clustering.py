"""Laplacian-regularised K-means and K-modes (SLK; Ziko et al., "Clustering is all you need?").

Support and query points of an episode form one kNN graph; the support assignments are fixed
to their labels. Starting from the prototypes (queries assigned to the nearest one), alternate

1. prototype update: K-means, the mean of each cluster's points; K-modes, Gaussian mean-shift
   from the current mode over the cluster's points (clusters = argmax of the assignments);
2. assignment update: the bound optimiser (:mod:`.bound`) with unary a_pk = ||x_p - m_k||^2
   (K-means) or -exp(-||x_p - m_k||^2 / (2 sigma^2)) (K-modes),

until no query changes cluster (a fixed point) or ``max_iter``. With ``lam = 0`` this is
exactly seeded K-means / K-modes. The prototype update uses hard assignments, as the method
is written (the SLK code switches to soft means for K-means after the first iteration).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .affinity import knn_neighbours, sq_dists
from .bound import bound_update
from .kmeans import _initial_labels
from .meanshift import kmodes_sigma2, mean_shift
from .prototypes import one_hot, prototypes, weighted_means
from .registry import register_method

KINDS = ("kmeans", "kmodes")


@dataclass
class ClusteringResult:
    z: torch.Tensor  # (E, S + Q, K) assignments, support rows = their one-hot labels
    labels: torch.Tensor  # (E, S + Q)
    centres: torch.Tensor  # (E, K, D) the prototypes that gave ``z``
    iterations: torch.Tensor  # (E,) outer iterations


def laplacian_clustering(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int,
                         lam: float, kind: str = "kmeans", knn: int = 3, max_iter: int = 100,
                         bound_iters: int = 20, tol: float = 1e-6, ms_iters: int = 1000,
                         ms_tol: float = 1e-5) -> ClusteringResult:
    """Run the alternating scheme of the module docstring on E episodes at once.

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: clusters (classes).
        lam: Laplacian weight (>= 0).
        kind: "kmeans" or "kmodes".
        knn: neighbours per point in the graph, the point itself included.
        max_iter: outer iterations cap.
        bound_iters, tol: bound optimiser cap and relative tolerance.
        ms_iters, ms_tol: mean-shift cap and tolerance (K-modes).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown clustering kind {kind!r}; choose one of {', '.join(KINDS)}")
    if lam < 0:
        raise ValueError(f"the Laplacian weight lam must be >= 0, got {lam}")
    x = torch.cat([zs, zq], 1)
    n_ep = x.shape[0]
    fixed = one_hot(ys, n_way, x.dtype)
    needs_graph = lam != 0 or kind == "kmodes"
    affinity = knn_neighbours(x, knn) if needs_graph else None
    sigma2 = kmodes_sigma2(x, affinity) if kind == "kmodes" else None
    labels = _initial_labels(zs, ys, zq, n_way)
    centres = prototypes(zs, ys, n_way)
    z = one_hot(labels, n_way, x.dtype)
    iterations = torch.zeros(n_ep, dtype=torch.long, device=x.device)
    active = torch.arange(n_ep, device=x.device)
    for _ in range(max_iter):
        xa, members = x[active], one_hot(labels[active], n_way, x.dtype)
        if kind == "kmeans":
            ca = weighted_means(xa, members)
            unary = sq_dists(xa, ca)
        else:
            ca = mean_shift(xa, members, centres[active], sigma2[active], ms_iters, ms_tol)
            unary = -torch.exp(-sq_dists(xa, ca) / (2.0 * sigma2[active].view(-1, 1, 1)))
        res = bound_update(unary, None if affinity is None else affinity[active], lam,
                           fixed[active], bound_iters, tol)
        changed = (res.labels != labels[active]).any(1)
        centres[active], z[active], labels[active] = ca, res.z, res.labels
        iterations[active] += 1
        active = active[changed]
        if active.numel() == 0:
            break
    return ClusteringResult(z=z, labels=labels, centres=centres, iterations=iterations)


@register_method("laplacian-kmeans", has_lambda=True)
def laplacian_kmeans(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                     lam: float = 0.7, knn: int = 3, max_iter: int = 100, bound_iters: int = 20,
                     tol: float = 1e-6) -> torch.Tensor:
    """Laplacian-regularised K-means (bound optimiser, kNN graph over support + query).

    Returns:
        (E, Q, n_way) query soft assignments.
    """
    res = laplacian_clustering(zs, ys, zq, n_way, lam, "kmeans", knn, max_iter, bound_iters, tol)
    return res.z[:, zs.shape[1]:]


@register_method("laplacian-kmodes", has_lambda=True)
def laplacian_kmodes(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                     lam: float = 0.7, knn: int = 3, max_iter: int = 100, bound_iters: int = 20,
                     tol: float = 1e-6, ms_iters: int = 1000, ms_tol: float = 1e-5) -> torch.Tensor:
    """Laplacian K-modes, SLK-MS (Gaussian mean-shift modes, kNN graph over support + query).

    Returns:
        (E, Q, n_way) query soft assignments.
    """
    res = laplacian_clustering(zs, ys, zq, n_way, lam, "kmodes", knn, max_iter, bound_iters, tol,
                               ms_iters, ms_tol)
    return res.z[:, zs.shape[1]:]

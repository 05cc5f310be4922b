"""Laplacian-regularised K-means and K-modes (SLK; Ziko et al., "Clustering is all you need?",
https://arxiv.org/abs/2101.04558, code imtiazziko/SLK-few-shot), and seeded K-means / K-modes
as their ``lam = 0`` case.

Support and query points of an episode form one kNN graph. Defaults follow the official code
(``SLK`` in ``src/SLK.py`` and the caller in ``src/train_SLK.py``):

0. the queries are shifted by mean(support) - mean(query) (always, ``shift=True``);
   queries start in the cluster of their nearest plain prototype, the support in its class;
1. prototype update: K-means, the mean of each cluster's points; K-modes, Gaussian mean-shift
   from the current mode over the cluster's points (clusters = argmax of the assignments,
   support rows included: they are not forced back to their labels);
2. assignment update: the bound optimiser (:mod:`.bound`) with unary a_pk = ||x_p - m_k||^2
   (K-means) or -exp(-||x_p - m_k||^2 / (2 sigma^2)) (K-modes), started with the support rows at
   their one-hot labels but letting them change inside the updates (``clamp_support=False``),
   up to 600 iterations, relative tolerance 1e-7. With ``lam = 0`` (plain K-means / K-modes)
   every point simply takes its nearest centre;
3. stop when the Laplacian K-prototypes energy sum_pk z_pk a_pk - lam sum_pq w_pq z_p . z_q
   changes by at most ``energy_tol = 1e-4`` relatively (checked from the third iteration),
   after ``max_iter = 100`` iterations, or when a cluster is left empty (then the previous
   iteration's result is kept, as the official code does).

The prototype update uses hard assignments in both kinds (the SLK code has a soft-mean
function, ``kmeans_update_soft``, but never calls it).

Variants: ``shift=False`` (no query shift), ``clamp_support=True`` (support rows fixed to their
labels in every update), ``stop="labels"`` (stop when no query changes cluster) with
``bound_iters=20, tol=1e-6`` is this project's earlier default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .affinity import knn_neighbours, propagate, sq_dists
from .bound import bound_update
from .meanshift import kmodes_sigma2, mean_shift
from .preprocess import shift_queries
from .prototypes import one_hot, prototypes, weighted_means
from .registry import register_method

KINDS = ("kmeans", "kmodes")
STOPS = ("energy", "labels")


@dataclass
class ClusteringResult:
    z: torch.Tensor  # (E, S + Q, K) assignments (support rows: their labels when clamped)
    labels: torch.Tensor  # (E, S + Q)
    centres: torch.Tensor  # (E, K, D) the prototypes that gave ``z``
    iterations: torch.Tensor  # (E,) outer iterations


def _initial_labels(zs, ys, zq, n_way):
    """Support labels, then each query's nearest prototype: (E, S + Q)."""
    near = sq_dists(zq, prototypes(zs, ys, n_way)).argmin(-1)
    return torch.cat([ys, near], 1)


def laplacian_clustering(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int,
                         lam: float, kind: str = "kmeans", knn: int = 3, max_iter: int = 100,
                         bound_iters: int = 600, tol: float = 1e-7, ms_iters: int = 1000,
                         ms_tol: float = 1e-5, shift: bool = True, clamp_support: bool = False,
                         stop: str = "energy", energy_tol: float = 1e-4) -> ClusteringResult:
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
        shift: shift the queries by mean(support) - mean(query) first.
        clamp_support: keep the support rows at their labels throughout.
        stop: "energy" (relative change <= ``energy_tol``) or "labels" (no query changed).
        energy_tol: relative energy change that stops an episode.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown clustering kind {kind!r}; choose one of {', '.join(KINDS)}")
    if stop not in STOPS:
        raise ValueError(f"unknown clustering stop rule {stop!r}; choose one of {', '.join(STOPS)}")
    if lam < 0:
        raise ValueError(f"the Laplacian weight lam must be >= 0, got {lam}")
    if shift:
        zq = shift_queries(zs, zq)
    x = torch.cat([zs, zq], 1)
    n_ep, n_support = x.shape[0], zs.shape[1]
    fixed = one_hot(ys, n_way, x.dtype)
    needs_graph = lam != 0 or kind == "kmodes"
    affinity = knn_neighbours(x, knn) if needs_graph else None
    sigma2 = kmodes_sigma2(x, affinity) if kind == "kmodes" else None
    labels = _initial_labels(zs, ys, zq, n_way)
    centres = prototypes(zs, ys, n_way)
    z = one_hot(labels, n_way, x.dtype)
    iterations = torch.zeros(n_ep, dtype=torch.long, device=x.device)
    old_energy = torch.full((n_ep,), float("inf"), dtype=x.dtype, device=x.device)
    active = torch.arange(n_ep, device=x.device)
    for i in range(max_iter):
        xa, members = x[active], one_hot(labels[active], n_way, x.dtype)
        if kind == "kmeans":
            ca = weighted_means(xa, members)
            unary = sq_dists(xa, ca)
        else:
            ca = mean_shift(xa, members, centres[active], sigma2[active], ms_iters, ms_tol)
            unary = -torch.exp(-sq_dists(xa, ca) / (2.0 * sigma2[active].view(-1, 1, 1)))
        graph = None if affinity is None else affinity[active]
        if lam != 0:
            res = bound_update(unary, graph, lam, fixed[active], bound_iters, tol, clamp=clamp_support)
            za, la = res.z, res.labels
        else:  # plain K-means / K-modes: nearest centre (no bound optimiser, as the SLK code)
            za = torch.softmax(-unary, -1)
            la = unary.argmin(-1)
            if clamp_support:
                za = torch.cat([fixed[active], za[:, n_support:]], 1)
                la = torch.cat([ys[active], la[:, n_support:]], 1)
        # a cluster left empty: keep the previous iteration's result and stop (official code)
        empty = (one_hot(la, n_way, x.dtype).sum(1) == 0).any(1)
        ok = ~empty
        changed = (la != labels[active]).any(1)
        hard = one_hot(la, n_way, x.dtype) if lam == 0 else za
        energy = (hard * unary).flatten(1).sum(1)
        if graph is not None and lam != 0:
            energy = energy - lam * (propagate(graph, hard) * hard).flatten(1).sum(1)
        upd = active[ok]
        centres[upd], z[upd], labels[upd] = ca[ok], za[ok], la[ok]
        iterations[upd] += 1
        if stop == "labels":
            done = ~changed
        else:
            prev = old_energy[active]
            done = (energy - prev).abs() <= energy_tol * prev.abs() if i > 1 else torch.zeros_like(ok)
            old_energy[active] = energy
        active = active[ok & ~done]
        if active.numel() == 0:
            break
    return ClusteringResult(z=z, labels=labels, centres=centres, iterations=iterations)


@register_method("laplacian-kmeans", has_lambda=True)
def laplacian_kmeans(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                     lam: float = 0.7, knn: int = 3, max_iter: int = 100, bound_iters: int = 600,
                     tol: float = 1e-7, shift: bool = True, clamp_support: bool = False,
                     stop: str = "energy", energy_tol: float = 1e-4) -> torch.Tensor:
    """Laplacian-regularised K-means, SLK (bound optimiser, kNN graph over support + query).

    Defaults follow the official SLK code (module docstring); ``shift=False,
    clamp_support=True, stop="labels", bound_iters=20, tol=1e-6`` is the earlier variant.

    Returns:
        (E, Q, n_way) query soft assignments.
    """
    res = laplacian_clustering(zs, ys, zq, n_way, lam, "kmeans", knn, max_iter, bound_iters, tol,
                               shift=shift, clamp_support=clamp_support, stop=stop, energy_tol=energy_tol)
    return res.z[:, zs.shape[1]:]


@register_method("laplacian-kmodes", has_lambda=True)
def laplacian_kmodes(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                     lam: float = 0.7, knn: int = 3, max_iter: int = 100, bound_iters: int = 600,
                     tol: float = 1e-7, ms_iters: int = 1000, ms_tol: float = 1e-5, shift: bool = True,
                     clamp_support: bool = False, stop: str = "energy",
                     energy_tol: float = 1e-4) -> torch.Tensor:
    """Laplacian K-modes, SLK-MS (Gaussian mean-shift modes, kNN graph over support + query).

    Defaults follow the official SLK code (module docstring); ``shift=False,
    clamp_support=True, stop="labels", bound_iters=20, tol=1e-6`` is the earlier variant.

    Returns:
        (E, Q, n_way) query soft assignments.
    """
    res = laplacian_clustering(zs, ys, zq, n_way, lam, "kmodes", knn, max_iter, bound_iters, tol,
                               ms_iters, ms_tol, shift=shift, clamp_support=clamp_support, stop=stop,
                               energy_tol=energy_tol)
    return res.z[:, zs.shape[1]:]

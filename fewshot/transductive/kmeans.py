"""Nearest centroid (inductive baseline), seeded K-means and soft K-means, batched over episodes.

Seeded K-means ("Clustering is all you need?", Ziko et al. 2021): the class prototypes are the
initial centres and the support points keep their labels; queries are assigned to their
nearest centre, centres become the mean of their support + assigned query points, until no
query changes cluster. Soft K-means (Ren et al. 2018, https://arxiv.org/abs/1803.00676) gives
queries soft assignments softmax(-||x - m||^2 / T) instead.
"""

from __future__ import annotations

import torch

from .affinity import sq_dists
from .bound import softmax_classes
from .prototypes import one_hot, prototypes, weighted_means
from .registry import register_method


@register_method("nearest-centroid", transductive=False)
def nearest_centroid(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                     temperature: float = 1.0) -> torch.Tensor:
    """Inductive nearest class mean (SimpleShot): softmax(-||z_q - c_k||^2 / T). -> (E, Q, n_way)."""
    return softmax_classes(-sq_dists(zq, prototypes(zs, ys, n_way)) / temperature)


def _initial_labels(zs, ys, zq, n_way):
    """Support labels, then each query's nearest prototype: (E, S + Q)."""
    near = sq_dists(zq, prototypes(zs, ys, n_way)).argmin(-1)
    return torch.cat([ys, near], 1)


@register_method("kmeans")
def seeded_kmeans(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                  max_iter: int = 100) -> torch.Tensor:
    """Seeded K-means over support + query, support labels fixed.

    Each iteration: centres <- mean of the points of each cluster; queries <- nearest centre.
    An episode stops when no query changes cluster (then its centres are a fixed point), or
    after ``max_iter`` iterations; finished episodes leave the batch.

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: clusters (classes).
        max_iter: iteration cap.

    Returns:
        (E, Q, n_way) softmax(-||z_q - m_k||^2) for the final centres m.
    """
    x = torch.cat([zs, zq], 1)
    n_support = zs.shape[1]
    labels = _initial_labels(zs, ys, zq, n_way)
    dists = sq_dists(x, prototypes(zs, ys, n_way))
    active = torch.arange(x.shape[0], device=x.device)
    for _ in range(max_iter):
        centres = weighted_means(x[active], one_hot(labels[active], n_way, x.dtype))
        d = sq_dists(x[active], centres)
        new = torch.cat([ys[active], d[:, n_support:].argmin(-1)], 1)
        dists[active] = d
        changed = (new != labels[active]).any(1)
        labels[active] = new
        active = active[changed]
        if active.numel() == 0:
            break
    return softmax_classes(-dists)[:, n_support:]  # as laplacian-kmeans does, so lam=0 matches bit for bit


@register_method("soft-kmeans")
def soft_kmeans(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                iterations: int = 10, temperature: float = 0.1) -> torch.Tensor:
    """Soft K-means refinement of the prototypes, support assignments fixed (one-hot).

    Starting from the prototypes, ``iterations`` times: z_q = softmax(-||x_q - m_k||^2 / T),
    m_k = (sum_s [y_s = k] x_s + sum_q z_qk x_q) / (n_k + sum_q z_qk).

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: clusters (classes).
        iterations: refinement steps (Ren et al. use 1).
        temperature: T; smaller is harder (T -> 0 approaches K-means). It is on the scale of
            squared distances: 0.1 suits L2-normalised features (squared distances in [0, 4];
            on glyphs' validation split 0.03 ... 0.3 all beat 1.0, which is too soft).

    Returns:
        (E, Q, n_way) soft assignments of the queries to the refined centres.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    x = torch.cat([zs, zq], 1)
    fixed = one_hot(ys, n_way, x.dtype)
    centres = prototypes(zs, ys, n_way)
    for _ in range(iterations):
        zq_soft = softmax_classes(-sq_dists(zq, centres) / temperature)
        centres = weighted_means(x, torch.cat([fixed, zq_soft], 1))
    return softmax_classes(-sq_dists(zq, centres) / temperature)

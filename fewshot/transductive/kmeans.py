"""Nearest centroid (inductive baseline), seeded K-means and soft K-means, batched over episodes.

Seeded K-means ("Clustering is all you need?", Ziko et al. 2021): the SLK code with the
Laplacian term off (:mod:`.clustering`): the class prototypes are the initial centres, points
go to their nearest centre, centres become the mean of their points. Soft K-means (Ren et al.
2018, https://arxiv.org/abs/1803.00676) gives queries soft assignments softmax(-||x - m||^2 / T)
instead.
"""

from __future__ import annotations

import torch

from .affinity import sq_dists
from .bound import softmax_classes
from .clustering import laplacian_clustering
from .prototypes import one_hot, prototypes, weighted_means
from .registry import register_method


@register_method("nearest-centroid", transductive=False)
def nearest_centroid(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                     temperature: float = 1.0) -> torch.Tensor:
    """Inductive nearest class mean (SimpleShot): softmax(-||z_q - c_k||^2 / T). -> (E, Q, n_way)."""
    return softmax_classes(-sq_dists(zq, prototypes(zs, ys, n_way)) / temperature)


@register_method("kmeans")
def seeded_kmeans(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                  max_iter: int = 100, shift: bool = True, clamp_support: bool = False,
                  stop: str = "energy", energy_tol: float = 1e-4) -> torch.Tensor:
    """Seeded K-means over support + query: SLK's code with the Laplacian off (``lap_bound=False``).

    Defaults follow imtiazziko/SLK-few-shot: queries shifted by mean(support) - mean(query);
    centres start at the prototypes, support points start in their class; each iteration
    centres <- mean of the points of each cluster, every point (support included) <- nearest
    centre; stop on a relative energy (sum of squared distances) change <= ``energy_tol`` from
    the third iteration, after ``max_iter``, or when a cluster empties (previous result kept).
    ``shift=False, clamp_support=True, stop="labels"`` is the earlier variant (support labels
    fixed, stop when no query changes cluster).

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: clusters (classes).
        max_iter: iteration cap.
        shift, clamp_support, stop, energy_tol: see
            :func:`~fewshot.transductive.clustering.laplacian_clustering`.

    Returns:
        (E, Q, n_way) softmax(-||z_q - m_k||^2) for the final centres m.
    """
    res = laplacian_clustering(zs, ys, zq, n_way, 0.0, "kmeans", max_iter=max_iter, shift=shift,
                               clamp_support=clamp_support, stop=stop, energy_tol=energy_tol)
    return res.z[:, zs.shape[1]:]


@register_method("soft-kmeans", norm="none")
def soft_kmeans(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *,
                iterations: int = 1, temperature: float = 1.0) -> torch.Tensor:
    """Soft K-means refinement of the prototypes, support assignments fixed (one-hot).

    Starting from the prototypes, ``iterations`` times: z_q = softmax(-||x_q - m_k||^2 / T),
    m_k = (sum_s [y_s = k] x_s + sum_q z_qk x_q) / (n_k + sum_q z_qk).

    Defaults follow Ren et al.'s code (renmengye/few-shot-ssl-public, ``kmeans-refine``): one
    refinement, no temperature (T = 1), on the raw features (``fewshot eval`` normalisation
    ``none``), queries as the unlabelled points. This project's earlier default was
    ``iterations=10, temperature=0.1`` on CL2N features (``--option iterations=10 --option
    temperature=0.1 --norm cl2n``).

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: clusters (classes).
        iterations: refinement steps (Ren et al.: 1).
        temperature: T; smaller is harder (T -> 0 approaches K-means). It is on the scale of
            squared distances: on L2-normalised features (squared distances in [0, 4]) T = 1 is
            very soft and 0.1 suits better.

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

"""Gaussian mean-shift for the K-modes prototypes of SLK (Ziko et al. 2018/2021)."""

from __future__ import annotations

import torch

from .affinity import edge_sum, sq_dists


def kmodes_sigma2(x: torch.Tensor, affinity: torch.Tensor) -> torch.Tensor:
    """Kernel width of SLK: sigma^2 = sum_{p,q} w_pq ||x_p - x_q||^2 / (5 N).

    The 5 is the constant of the SLK code (its ``knn`` argument), kept as written.

    Args:
        x: (E, N, D) points.
        affinity: (E, N, N) kNN graph or (E, N, m) neighbour lists.

    Returns:
        (E,) sigma^2 per episode.
    """
    return edge_sum(affinity, sq_dists(x, x)) / (5.0 * x.shape[1])


def mean_shift(x: torch.Tensor, members: torch.Tensor, start: torch.Tensor, sigma2: torch.Tensor,
               max_iter: int = 1000, tol: float = 1e-5) -> torch.Tensor:
    """Mode of each cluster by Gaussian mean-shift over its members, batched.

    Per cluster: m <- sum_p g_p x_p / sum_p g_p with g_p = exp(-||m - x_p||^2 / (2 sigma^2))
    over the cluster's points, until max|m_new - m| < tol * max|m| (each cluster of each
    episode stops on its own) or ``max_iter``.

    Args:
        x: (E, P, D) points.
        members: (E, P, K) 0/1 membership (every cluster has at least one member).
        start: (E, K, D) initial modes.
        sigma2: (E,) kernel width sigma^2 per episode.
        max_iter: iteration cap (SLK code: 1000).
        tol: relative stopping tolerance (SLK code: 1e-5).

    Returns:
        (E, K, D) modes.
    """
    m = start
    scale = (2.0 * sigma2).view(-1, 1, 1)
    outside = members <= 0
    active = torch.ones(m.shape[:2], dtype=torch.bool, device=m.device)  # (E, K)
    for _ in range(max_iter):
        logits = (-sq_dists(x, m) / scale).masked_fill(outside, float("-inf"))  # (E, P, K)
        # softmax over the points = the normalised Gaussian weights, without exp underflow
        g = logits.softmax(1)
        m_new = g.transpose(1, 2) @ x
        done = (m_new - m).abs().amax(-1) < tol * m.abs().amax(-1)
        m = torch.where(active.unsqueeze(-1), m_new, m)
        active = active & ~done
        if not bool(active.any()):
            break
    return m

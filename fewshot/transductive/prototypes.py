"""Class centres of a batch of episodes: plain means, weighted means, rectified prototypes."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def one_hot(labels: torch.Tensor, n_way: int, dtype: torch.dtype) -> torch.Tensor:
    """(..., P) integer labels -> (..., P, n_way) one-hot of ``dtype``."""
    return F.one_hot(labels.long(), n_way).to(dtype)


def weighted_means(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """m_k = sum_p w_pk x_p / sum_p w_pk.

    Args:
        x: (E, P, D) points.
        weights: (E, P, K) non-negative weights (hard or soft assignments); every column needs
            a positive sum.

    Returns:
        (E, K, D) centres.
    """
    return (weights.transpose(1, 2) @ x) / weights.sum(1).unsqueeze(-1)


def prototypes(zs: torch.Tensor, ys: torch.Tensor, n_way: int) -> torch.Tensor:
    """Mean support feature of each class: zs (..., S, D), ys (..., S) -> (..., n_way, D), batched
    over any leading dimensions (episodes). One matrix product, so classes may have different
    numbers of shots (a class without support points gets zeros). The one prototype function of
    fewshot (ProtoNet's too)."""
    onehot = one_hot(ys, n_way, zs.dtype)
    return (onehot.transpose(-1, -2) @ zs) / onehot.sum(-2).clamp_min(1.0).unsqueeze(-1)


def rectify_prototypes(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int,
                       eps: float = 10.0) -> torch.Tensor:
    """Prototype rectification (BD-CSPN, Liu et al. 2020, https://arxiv.org/abs/1911.10713).

    Used by LaplacianShot. Queries are first shifted by ``mean(support) - mean(query)`` (for the
    rectification only), pseudo-labelled by their nearest prototype in cosine similarity, then
    each prototype becomes the weighted mean of its class's support points and pseudo-labelled
    queries with weights ``exp(eps * cos(x, p_k))`` normalised over the class (the paper's
    form; easyfsl's ``BDCSPN`` is ``eps=1``). LaplacianShot's official code rectifies
    differently: :func:`softmax_rectify_prototypes`.

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: classes per episode.
        eps: cosine temperature.

    Returns:
        (E, n_way, D) rectified prototypes.
    """
    protos = prototypes(zs, ys, n_way)
    shifted = zq + (zs.mean(1, keepdim=True) - zq.mean(1, keepdim=True))
    p_hat = F.normalize(protos, dim=-1)
    cos_s = F.normalize(zs, dim=-1) @ p_hat.transpose(1, 2)  # (E, S, K)
    cos_q = F.normalize(shifted, dim=-1) @ p_hat.transpose(1, 2)  # (E, Q, K)
    member_s = one_hot(ys, n_way, zs.dtype)
    member_q = one_hot(cos_q.argmax(-1), n_way, zs.dtype)
    # Subtracting the per-episode maximum leaves the normalised weights unchanged and keeps
    # exp() finite for large eps.
    top = torch.maximum(cos_s.amax((1, 2), keepdim=True), cos_q.amax((1, 2), keepdim=True))
    w_s = member_s * torch.exp(eps * (cos_s - top))
    w_q = member_q * torch.exp(eps * (cos_q - top))
    total = w_s.sum(1) + w_q.sum(1)  # (E, K): positive, the support is always a member
    num = w_s.transpose(1, 2) @ zs + w_q.transpose(1, 2) @ shifted
    return num / total.unsqueeze(-1)


def softmax_rectify_prototypes(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int,
                               temperature: float = 10.0) -> torch.Tensor:
    """Prototype rectification of LaplacianShot's official code (imtiazziko/LaplacianShot).

    Support and (already shifted) query points are pooled; every pooled point is pseudo-labelled
    by its nearest plain prototype in cosine similarity (support points too, so a support point
    can land in another class); its weight for class k is the softmax *over the classes* of
    ``temperature * cos(x, p_k)``; the rectified prototype k is the plain mean of
    ``weight * x`` over the points labelled k (a sum divided by their count, not by the sum of
    the weights, so it is shorter than the points it averages).

    A class that receives no point keeps its plain prototype. (The official code then builds
    fewer prototypes than classes and shifts the class indices of the ones after it; that only
    happens when every support point of a class is closer to another prototype.)

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features, shifted beforehand by the caller if wanted.
        n_way: classes per episode.
        temperature: scale of the cosines inside the softmax (official: 10).

    Returns:
        (E, n_way, D) rectified prototypes.
    """
    protos = prototypes(zs, ys, n_way)
    pool = torch.cat([zs, zq], 1)
    cos = F.normalize(pool, dim=-1) @ F.normalize(protos, dim=-1).transpose(1, 2)  # (E, P, K)
    weights = (temperature * cos).softmax(-1)
    members = one_hot(cos.argmax(-1), n_way, pool.dtype)
    counts = members.sum(1).unsqueeze(-1)  # (E, K, 1)
    rect = ((members * weights).transpose(1, 2) @ pool) / counts.clamp_min(1.0)
    return torch.where(counts > 0, rect, protos)

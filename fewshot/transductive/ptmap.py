"""PT-MAP (Hu, Gripon, Pateux 2021, https://arxiv.org/abs/2006.03806, code yhu01/PT-MAP), batched.

Defaults follow the official ``test_standard.py``:

1. power transform (x + 1e-6) ** 0.5 of the (non-negative) features;
2. L2-normalise every feature, then centre the support and the query sets separately (each on
   its own mean) and L2-normalise again (``preprocess="official"``). The official code also
   applies a QR reduction first; it changes no distance or norm, so it is left out;
3. prototypes = support means; ``steps = 20`` times: soft query assignments = the Sinkhorn
   optimal-transport plan of cost ||x_q - m_k||^2 with regularisation ``lam = 10``, every query
   mass 1 and every class mass Q / n_way (iterate row and column scalings until the row sums
   move by at most 1e-6, at most 1000 times); prototypes move towards the mean of support
   (one-hot) and queries (transport plan) with rate ``alpha = 0.2``;
4. output the transport plan of the final prototypes, rows normalised.

``preprocess="power"`` (power transform only) with ``steps=10`` is easyfsl 1.5.0's ``PTMAP``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .affinity import sq_dists
from .prototypes import one_hot, prototypes, weighted_means
from .registry import register_method

PREPROCESS = ("official", "power")


def power_transform(x: torch.Tensor, beta: float) -> torch.Tensor:
    """(x + 1e-6) ** beta of non-negative features."""
    return (x + 1e-6).pow(beta)


def sinkhorn(cost: torch.Tensor, lam: float, tol: float = 1e-6, max_iter: int = 1000) -> torch.Tensor:
    """Entropic optimal transport between Q unit-mass queries and K classes of mass Q / K.

    Each episode iterates until its row sums move by at most ``tol`` (or ``max_iter``), on its
    own: a batch gives what each episode gives alone.

    Args:
        cost: (E, Q, K) transport costs.
        lam: regularisation (the plan starts as exp(-lam * cost)).

    Returns:
        (E, Q, K) transport plan.
    """
    n_ep, n_q, n_k = cost.shape
    # classes on the middle axis: the sums over the few classes are much faster there on CPU
    p = torch.exp(-lam * cost.transpose(1, 2))  # (E, K, Q)
    p = p / p.flatten(1).sum(1).view(-1, 1, 1)
    col_mass = n_q / n_k
    out = p.clone()
    idx = torch.arange(n_ep, device=cost.device)  # episodes still iterating
    u = torch.zeros(n_ep, 1, n_q, dtype=cost.dtype, device=cost.device)
    for _ in range(max_iter):
        rows = p.sum(1, keepdim=True)  # (e, 1, Q) mass of each query
        moving = (u - rows).abs().flatten(1).amax(1) > tol
        if not bool(moving.all()):  # finished episodes leave the batch with their plan
            out[idx[~moving]] = p[~moving]
            idx, p, rows = idx[moving], p[moving], rows[moving]
            if idx.numel() == 0:
                break
        u = rows
        p = p / rows
        p = p * (col_mass / p.sum(2, keepdim=True))
    out[idx] = p
    return out.transpose(1, 2)


@register_method("pt-map", norm="none")
def ptmap(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *, power: float = 0.5,
          preprocess: str = "official", steps: int = 20, alpha: float = 0.2, lam: float = 10.0,
          sinkhorn_tol: float = 1e-6, sinkhorn_iters: int = 1000) -> torch.Tensor:
    """PT-MAP: power transform, then Sinkhorn soft assignments and prototype updates.

    Args:
        zs: (E, S, D) support features, non-negative (e.g. after a ReLU).
        ys: (E, S) support labels.
        zq: (E, Q, D) query features, non-negative.
        n_way: classes.
        power: exponent beta of the power transform (0.5).
        preprocess: "official" (power, L2, per-set centring, L2) or "power" (easyfsl).
        steps: prototype updates (official 20; easyfsl 10).
        alpha: prototype learning rate (0.2).
        lam: Sinkhorn regularisation (10).
        sinkhorn_tol, sinkhorn_iters: Sinkhorn stopping rule (1e-6, 1000).

    Returns:
        (E, Q, n_way) transport plan of the queries (rows normalised to sum to one).
    """
    if preprocess not in PREPROCESS:
        raise ValueError(f"unknown PT-MAP preprocess {preprocess!r}; choose one of {', '.join(PREPROCESS)}")
    if bool((zs < 0).any()) or bool((zq < 0).any()):
        raise ValueError("PT-MAP's power transform needs non-negative features (e.g. post-ReLU "
                         "embeddings, --norm none); got negative values")
    zs, zq = power_transform(zs, power), power_transform(zq, power)
    if preprocess == "official":
        zs, zq = F.normalize(zs, dim=-1), F.normalize(zq, dim=-1)
        zs = F.normalize(zs - zs.mean(1, keepdim=True), dim=-1)
        zq = F.normalize(zq - zq.mean(1, keepdim=True), dim=-1)
    x = torch.cat([zs, zq], 1)
    support = one_hot(ys, n_way, x.dtype)
    mus = prototypes(zs, ys, n_way)
    for _ in range(steps):
        plan = sinkhorn(sq_dists(zq, mus), lam, sinkhorn_tol, sinkhorn_iters)
        mus = mus + alpha * (weighted_means(x, torch.cat([support, plan], 1)) - mus)
    plan = sinkhorn(sq_dists(zq, mus), lam, sinkhorn_tol, sinkhorn_iters)
    return plan / plan.sum(-1, keepdim=True)

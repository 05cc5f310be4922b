"""The bound optimiser of LaplacianShot / SLK for Laplacian-regularised soft assignments.

Objective over the points p of an episode (support + query, or query only), assignments z_p
on the simplex:

    E(Z) = sum_p z_p^T log z_p + sum_p z_p^T a_p - lam * sum_{p,q} w_pq z_p^T z_q

(entropy + unary + Laplacian). Linearising the Laplacian term at the current Z^i gives the
auxiliary function of one step,

    B_i(Z) = sum_p z_p^T log z_p + sum_p z_p^T a_p - lam * sum_p z_p^T b_p,   b_p = sum_q w_pq z^i_q,

which is tight at Z^i (B_i(Z^i) = E(Z^i)) and convex, with the closed-form minimiser
z_p = softmax(-a_p + lam b_p) for every point independently. Iterations stop when E changes by
at most ``tol`` relatively (checked from the third iteration on, as in both papers' code) or
after ``max_iter``. The update uses b_p = W Z^i exactly as the papers' code does; it never
increases B_i, while E itself is only guaranteed to decrease for affinities whose Laplacian
term is concave (a kNN graph need not be).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from .affinity import propagate


@dataclass
class BoundResult:
    z: torch.Tensor  # (E, P, K) soft assignments
    labels: torch.Tensor  # (E, P) argmax of the last step's logits (fixed rows: their label)
    iterations: torch.Tensor  # (E,) bound iterations each episode ran
    energy: torch.Tensor  # (E,) E(Z) at the returned Z


def _plogp(z: torch.Tensor) -> torch.Tensor:
    # 0 log 0 = 0 for the fixed one-hot rows; much faster than torch.special.xlogy on CPU
    return z * z.clamp_min(torch.finfo(z.dtype).tiny).log()


def softmax_classes(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last (class) axis of (E, P, K) logits, computed along a middle axis:
    the CPU kernel is several times faster there for the few classes of an episode."""
    return logits.transpose(1, 2).contiguous().softmax(1).transpose(1, 2)


def _per_episode(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).sum(1)  # (E, P, K) -> (E,); much faster than .sum((1, 2)) on CPU


def entropy_energy(z: torch.Tensor, unary: torch.Tensor, affinity: Optional[torch.Tensor],
                   lam: float) -> torch.Tensor:
    """E(Z) of the module docstring. z, unary: (E, P, K) -> (E,).

    ``affinity``: dense (E, P, P) W, (E, P, m) neighbour lists, or None (no Laplacian term).
    """
    e = _per_episode(_plogp(z) + z * unary)
    if affinity is not None and lam != 0:
        e = e - lam * _per_episode(propagate(affinity, z) * z)
    return e


def bound_value(z: torch.Tensor, unary: torch.Tensor, b: torch.Tensor, lam: float) -> torch.Tensor:
    """B_i(Z) for the linearisation point that gave ``b = W Z^i``. All (E, P, K) -> (E,)."""
    return _per_episode(_plogp(z) + z * unary - lam * z * b)


def bound_step(z: torch.Tensor, unary: torch.Tensor, affinity: Optional[torch.Tensor], lam: float,
               fixed: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One bound update: z_p <- softmax(-a_p + lam b_p); the first S rows stay ``fixed``.

    Args:
        z: (E, P, K) current assignments Z^i.
        unary: (E, P, K) a_p.
        affinity: dense (E, P, P) W, (E, P, m) neighbour lists, or None for lam * b = 0.
        lam: Laplacian weight.
        fixed: (E, S, K) assignments of the first S rows (support one-hots), or None.

    Returns:
        (Z^{i+1}, logits -a + lam b, b), each (E, P, K).
    """
    b = torch.zeros_like(z) if affinity is None else propagate(affinity, z)
    logits = -unary + lam * b
    z_new = softmax_classes(logits)
    if fixed is not None:
        z_new = torch.cat([fixed, z_new[:, fixed.shape[1]:]], 1)
    return z_new, logits, b


def _labels(logits: torch.Tensor, fixed: Optional[torch.Tensor]) -> torch.Tensor:
    labels = logits.argmax(-1)
    if fixed is not None:
        labels = torch.cat([fixed.argmax(-1), labels[:, fixed.shape[1]:]], 1)
    return labels


def bound_update(unary: torch.Tensor, affinity: Optional[torch.Tensor], lam: float,
                 fixed: Optional[torch.Tensor] = None, max_iter: int = 20,
                 tol: float = 1e-6, clamp: bool = True) -> BoundResult:
    """Iterate :func:`bound_step` from Z^0 = softmax(-a), every episode to its own convergence.

    An episode that has converged is frozen while the others go on, so a batch gives exactly
    what each episode would give alone.

    Args:
        unary: (E, P, K) a_p (squared distances for K-means, -Gaussian kernel for K-modes).
        affinity: dense (E, P, P) W, (E, P, m) neighbour lists (see
            :mod:`~fewshot.transductive.affinity`), or None.
        lam: Laplacian weight (0 gives plain softmax(-a) assignments).
        fixed: (E, S, K) assignments of the first S rows.
        max_iter: at most this many updates (LaplacianShot: 20; SLK: 600).
        tol: stop when |E_new - E_old| <= tol * |E_old| (LaplacianShot: 1e-6; SLK: 1e-7).
        clamp: keep the ``fixed`` rows at their values in every update (True), or only start
            from them and let them follow the updates like any other row (False, SLK's code).
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    n_ep = unary.shape[0]
    z = softmax_classes(-unary)
    if fixed is not None:
        z = torch.cat([fixed, z[:, fixed.shape[1]:]], 1)
    logits = -unary
    old = torch.full((n_ep,), float("inf"), dtype=unary.dtype, device=unary.device)
    active = torch.ones(n_ep, dtype=torch.bool, device=unary.device)
    iterations = torch.zeros(n_ep, dtype=torch.long, device=unary.device)
    energy = old.clone()
    kept = fixed if clamp else None
    for i in range(max_iter):
        z_new, logits_new, _ = bound_step(z, unary, affinity, lam, kept)
        e_new = entropy_energy(z_new, unary, affinity, lam)
        keep = active.view(-1, 1, 1)
        z = torch.where(keep, z_new, z)
        logits = torch.where(keep, logits_new, logits)
        energy = torch.where(active, e_new, energy)
        iterations = iterations + active.long()
        converged = (e_new - old).abs() <= tol * old.abs() if i > 1 else torch.zeros_like(active)
        old = torch.where(active, e_new, old)
        active = active & ~converged
        if not bool(active.any()):
            break
    return BoundResult(z=z, labels=_labels(logits, kept), iterations=iterations, energy=energy)

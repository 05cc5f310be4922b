"""Feature preprocessing before transductive inference (SimpleShot / LaplacianShot).

* ``center``: subtract the mean feature of the base (training) classes;
* ``l2``: divide every feature by its Euclidean norm (``center`` then ``l2`` is "CL2N");
* ``episode-cl2n``: subtract the episode's own mean feature (support and query pooled), then
  ``l2``. Transductive (it reads the queries), and not in any seed paper's code: an option for
  evaluating off the training domain, where the base-class mean of ``cl2n`` misses the new
  domain's mean and what is left after centring is one shared offset (measured on glyphs ->
  scikit-learn digits, README "Cross-domain evaluation");
* ``shift``: move the queries by ``mean(support) - mean(query)`` so both sets share a mean
  (LaplacianShot / BD-CSPN's cross-set bias reduction).

Applied in that order, batched over episodes.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

NORMS = ("none", "l2", "cl2n", "center", "episode-cl2n")


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """x / ||x|| along the last axis (a zero vector stays zero)."""
    return F.normalize(x, dim=-1)


def center(x: torch.Tensor, base_mean: torch.Tensor) -> torch.Tensor:
    """x - base_mean. x: (..., D), base_mean: (D,)."""
    return x - base_mean.to(device=x.device, dtype=x.dtype)


def shift_queries(zs: torch.Tensor, zq: torch.Tensor) -> torch.Tensor:
    """zq + (mean over support - mean over query), per episode. zs: (E, S, D), zq: (E, Q, D)."""
    return zq + (zs.mean(1, keepdim=True) - zq.mean(1, keepdim=True))


def preprocess(zs: torch.Tensor, zq: torch.Tensor, norm: str = "none", shift: bool = False,
               base_mean: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Apply ``norm`` ("none", "l2", "center", "cl2n" or "episode-cl2n") then, if asked, the query shift.

    Args:
        zs: (E, S, D) support features.
        zq: (E, Q, D) query features.
        norm: which normalisation; "center" and "cl2n" need ``base_mean``.
        shift: shift the queries by the support-query mean difference.
        base_mean: (D,) mean feature of the base classes (training split).

    Returns:
        (zs, zq) with the same shapes.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown feature normalisation {norm!r}; choose one of {', '.join(NORMS)}")
    if norm in ("center", "cl2n"):
        if base_mean is None:
            raise ValueError(f"normalisation {norm!r} subtracts the base-class mean feature: pass "
                             "base_mean (the mean feature of the training split)")
        if base_mean.shape != zs.shape[-1:]:
            raise ValueError(f"base_mean has shape {tuple(base_mean.shape)}, expected ({zs.shape[-1]},)")
        zs, zq = center(zs, base_mean), center(zq, base_mean)
    if norm == "episode-cl2n":
        mean = torch.cat([zs, zq], 1).mean(1, keepdim=True)  # (E, 1, D): each episode's own
        zs, zq = zs - mean, zq - mean
    if norm in ("l2", "cl2n", "episode-cl2n"):
        zs, zq = l2_normalize(zs), l2_normalize(zq)
    if shift:
        zq = shift_queries(zs, zq)
    return zs, zq

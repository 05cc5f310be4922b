"""ICNN score and loss (Mendez-Ruiz et al. 2023, https://arxiv.org/abs/2305.09062).

The score rates how well a labelled point set is clustered by class, looking at each source
point's k nearest neighbours in a target set (the same set, or another one). Distances are
d = sqrt(||a - b||^2 + 1e-6), as in the authors' code (maumruiz/FSL-Loss).

``style="authors"`` is the default: the paper's numbers come from the authors' code, and the
written definition gives losses 8-30x larger in the variants their scripts run.

``style="paper"`` (the definition of the project's METHODS.md), per source point i:

* neighbours: target points sorted by distance, self excluded only when source and target are
  the same set; keep the first k (k is capped at the number of neighbours available);
* nn_dc_i: distance to the nearest target point of another class (searched over the whole
  target set); normalised distance nd_ij = min(d_ij / nn_dc_i, 1) (0 when there is no other
  class);
* lambda_sc = 1 - mean over points having same-class neighbours of their mean nd to those
  neighbours (1 if no point has one);
* lambda_dc = mean over points having different-class neighbours of their mean d to them divided
  by the largest such d in the whole set (1 if there is no different-class neighbour at all);
* gamma = mean over points of the fraction of same-class points among their k neighbours;
* score = ((lambda_sc + lambda_dc) / 2 + gamma) / 2 in (0, 1];  loss = -log(score).

``style="authors"`` (default) reproduces ``modified_score`` of maumruiz/FSL-Loss, 1e-7 guards included:
k is capped to m - 2 for a target of m points; the ``window`` (default k + 1) nearest neighbours
are looked up after *always* dropping the first one (self when the sets are the same, but the
true nearest neighbour otherwise: a bug for the query variant); nn_dc is searched inside that
window only (none found -> nd = 0); nd is divided by max(1, row max of nd) instead of being
capped; gamma is 1 whenever k had to be capped, and otherwise divides by k even when the
window is shorter than k (full variant with shots + queries < k).
"""

from __future__ import annotations

from typing import Optional

import torch

from ..distances import euclidean

ICNN_STYLES = ("paper", "authors")


def _neighbours_paper(points, labels, target, target_labels, same, k):
    """(n, k') neighbour distances, same-class mask, normalised distances; gamma override."""
    dist_all = euclidean(points, target)  # (n, m)
    other = target_labels.unsqueeze(0) != labels.unsqueeze(1)  # (n, m) different class
    if same:  # self is never its own neighbour
        eye = torch.eye(len(points), dtype=torch.bool, device=points.device)
        dist_all = dist_all.masked_fill(eye, float("inf"))
    available = target.shape[0] - int(same)
    k = min(k, available)
    dist, index = dist_all.topk(k, dim=1, largest=False)  # sorted nearest first
    same_class = target_labels[index] == labels.unsqueeze(1)
    # Self is same-class, so it never counts as the nearest different-class point.
    nn_dc = dist_all.masked_fill(~other, float("inf")).min(dim=1).values  # inf: no other class
    nd = (dist / nn_dc.unsqueeze(1)).clamp(max=1.0)
    return dist, same_class, nd, None


def _score_authors(points, labels, target, target_labels, k, window):
    """``modified_score`` of maumruiz/FSL-Loss, step by step, with its 1e-7 guards."""
    eps = 1e-7
    m = target.shape[0]
    capped = k + 2 >= m
    k = m - 2 if capped else k
    window = k + 1 if window is None else window
    if k < 1 or window + 1 > m:
        raise ValueError(f"ICNN (authors style) needs a target of at least max(3, window + 1) points, "
                         f"got {m} with window {window}")
    dist_w, index = euclidean(points, target).topk(window + 1, dim=1, largest=False)
    dist_w, index = dist_w[:, 1:], index[:, 1:]  # their code always drops the first neighbour
    same_w = (target_labels[index] == labels.unsqueeze(1)).to(dist_w.dtype)  # (n, window)
    other_w = 1.0 - same_w
    dc_dist = dist_w * other_w
    nn_dc = dc_dist.masked_fill(dc_dist == 0, float("inf")).min(dim=1).values  # inf: none in window
    # k may exceed the window (full variant with shots + queries < k): slicing keeps the window,
    # but gamma below still divides by k, as their code does
    nd = dist_w[:, :k] / (nn_dc.unsqueeze(1) + eps)
    nd = nd / nd.max(dim=1, keepdim=True).values.clamp(min=1.0)
    sc = same_w[:, :k]
    sc_counts = sc.sum(1)
    lambda_sc = 1 - ((nd * sc).sum(1) / (sc_counts + eps)).sum() / (torch.count_nonzero(sc_counts) + eps)
    dc = other_w[:, :k]
    dcn = dc_dist[:, :k] / (dc_dist[:, :k].max() + eps)
    dc_counts = dc.sum(1)
    lambda_dc = (dcn.sum(1) / (dc_counts + eps)).sum() / (torch.count_nonzero(dc_counts) + eps)
    lambda_dc = (lambda_dc - (1.0 if bool((dc == 0).all()) else 0.0)).abs()
    gamma = (sc_counts / k).sum() / len(labels) if not capped else dist_w.new_ones(())
    return ((lambda_sc + lambda_dc) / 2 + gamma) / 2


def _score(dist: torch.Tensor, same_class: torch.Tensor, nd: torch.Tensor,
           gamma_override: Optional[float]) -> torch.Tensor:
    sc = same_class.to(dist.dtype)
    dc = 1.0 - sc
    sc_count, dc_count = sc.sum(1), dc.sum(1)
    has_sc, has_dc = sc_count > 0, dc_count > 0
    one = dist.new_ones(())
    if has_sc.any():
        per_point = (nd * sc).sum(1) / sc_count.clamp(min=1.0)
        lambda_sc = 1.0 - per_point[has_sc].mean()
    else:
        lambda_sc = one
    if has_dc.any():
        dc_dist = dist * dc
        per_point = (dc_dist / dc_dist.max()).sum(1) / dc_count.clamp(min=1.0)
        lambda_dc = per_point[has_dc].mean()
    else:
        lambda_dc = one
    gamma = (sc_count / sc.shape[1]).mean() if gamma_override is None else one * gamma_override
    return ((lambda_sc + lambda_dc) / 2 + gamma) / 2


def icnn_score(points: torch.Tensor, labels: torch.Tensor, target: Optional[torch.Tensor] = None,
               target_labels: Optional[torch.Tensor] = None, k: int = 4, style: str = "authors",
               window: Optional[int] = None) -> torch.Tensor:
    """ICNN score of ``points`` against ``target`` (default: the points themselves).

    Args:
        points: (n, D) source embeddings.
        labels: (n,) integer labels.
        target: (m, D) embeddings to take neighbours from; None = ``points`` (self excluded).
        target_labels: (m,) labels of ``target``; required with ``target``.
        k: neighbours per point (default 4, as in the paper).
        style: "authors" (default: the authors' code, which the paper's numbers come from) or
            "paper" (the written definition; see the module docstring).
        window: authors style only: neighbours searched for nn_dc (their ``ipc``; default k + 1).

    Returns:
        Scalar tensor in (0, 1]; larger is better clustered.
    """
    if style not in ICNN_STYLES:
        raise ValueError(f"unknown ICNN style {style!r}; choose one of {', '.join(ICNN_STYLES)}")
    if k < 1:
        raise ValueError(f"ICNN k must be >= 1, got {k}")
    same = target is None
    if same:
        target, target_labels = points, labels
    elif target_labels is None:
        raise ValueError("icnn_score: pass target_labels together with target")
    if points.ndim != 2 or target.ndim != 2 or points.shape[1] != target.shape[1]:
        raise ValueError(f"points {tuple(points.shape)} and target {tuple(target.shape)} must be (n, D), (m, D)")
    if len(labels) != len(points) or len(target_labels) != len(target):
        raise ValueError("icnn_score: one label per point and per target point")
    if target.shape[0] - int(same) < 1:
        raise ValueError("icnn_score needs at least one neighbour per point (2 points when target is None)")
    if style == "paper":
        parts = _neighbours_paper(points, labels, target, target_labels, same, k)
    else:
        return _score_authors(points, labels, target, target_labels, k, window)
    return _score(*parts)


def icnn_loss(*args, **kwargs) -> torch.Tensor:
    """-log(icnn_score(...)); same arguments as :func:`icnn_score`."""
    return -icnn_score(*args, **kwargs).clamp(min=1e-12).log()


ICNN_VARIANTS = ("support", "query", "full")


def episode_icnn_loss(variant: str, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor,
                      yq: torch.Tensor, prototypes: Optional[torch.Tensor] = None, k: int = 4,
                      style: str = "authors", query_target: str = "support") -> torch.Tensor:
    """ICNN loss of one episode, in the authors' three variants.

    * ``support``: the support set against itself (self excluded). With 1 shot no point has a
      same-class neighbour, so only lambda_dc carries a gradient.
    * ``query``: each query against the support set (``query_target="support"``) or against the
      class prototypes (``"prototypes"``, their ``--query_protos``); no self to exclude.
    * ``full``: support and query together against themselves (self excluded); the authors' window
      is shot + query (the largest class count).

    Args:
        zs: (n_support, D), ys: (n_support,), zq: (n_query, D), yq: (n_query,).
        prototypes: (n_way, D), needed for ``query_target="prototypes"``.
    """
    if variant == "support":
        return icnn_loss(zs, ys, k=k, style=style)
    if variant == "query":
        if query_target == "prototypes":
            if prototypes is None:
                raise ValueError("ICNN query variant with query_target='prototypes' needs the prototypes")
            labels = torch.arange(len(prototypes), device=zq.device)
            return icnn_loss(zq, yq, prototypes, labels, k=k, style=style)
        if query_target != "support":
            raise ValueError(f"icnn query_target must be 'support' or 'prototypes', got {query_target!r}")
        return icnn_loss(zq, yq, zs, ys, k=k, style=style)
    if variant == "full":
        z, y = torch.cat([zs, zq]), torch.cat([ys, yq])
        window = int(torch.bincount(y).max()) if style == "authors" else None
        return icnn_loss(z, y, k=k, style=style, window=window)
    raise ValueError(f"unknown ICNN variant {variant!r}; choose one of {', '.join(ICNN_VARIANTS)}")

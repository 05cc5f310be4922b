"""BD-CSPN: prototype rectification (Liu, Song, Qin, ECCV 2020, https://arxiv.org/abs/1911.10713).

Bias diminishing for cosine-similarity prototypical networks, batched over episodes:

1. cross-class bias: shift the queries by mean(support) - mean(query);
2. intra-class bias: pseudo-label every shifted query by its nearest plain prototype (cosine),
   then each prototype becomes the weighted mean of its support points and its pseudo-labelled
   queries, weights exp(eps * cos(x, p_k)) normalised over the class's members (eps = 10);
3. classify the shifted queries by cosine similarity to the rectified prototypes.

The authors released no code; this follows the paper. easyfsl 1.5.0's ``BDCSPN`` is
``eps=1, classify="unshifted"`` (it classifies the queries before the shift).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .preprocess import shift_queries
from .prototypes import rectify_prototypes
from .registry import register_method

CLASSIFY = ("shifted", "unshifted")


@register_method("bd-cspn", norm="none")
def bdcspn(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *, eps: float = 10.0,
           classify: str = "shifted") -> torch.Tensor:
    """BD-CSPN: shifted queries, rectified prototypes, cosine classifier.

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: classes.
        eps: temperature of the rectification weights and of the output softmax (paper: 10).
        classify: classify the "shifted" queries (paper) or the "unshifted" ones (easyfsl).

    Returns:
        (E, Q, n_way) softmax(eps * cos(z_q, p_k)).
    """
    if classify not in CLASSIFY:
        raise ValueError(f"unknown BD-CSPN classify {classify!r}; choose one of {', '.join(CLASSIFY)}")
    protos = rectify_prototypes(zs, ys, zq, n_way, eps)
    q = shift_queries(zs, zq) if classify == "shifted" else zq
    cos = F.normalize(q, dim=-1) @ F.normalize(protos, dim=-1).transpose(1, 2)
    return (eps * cos).softmax(-1)

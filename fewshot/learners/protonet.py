"""Prototypical Networks (Snell et al. 2017, https://arxiv.org/abs/1703.05175)."""

from __future__ import annotations

import torch
from torch import nn

from ..distances import get_distance
from .base import Learner


def prototypes(z: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """Class means. z: (n, D), labels: (n,) in 0..n_way-1 -> (n_way, D).

    One matrix product, so classes may have different numbers of shots.
    """
    onehot = torch.nn.functional.one_hot(labels, n_way).to(z.dtype)  # (n, n_way)
    counts = onehot.sum(0).clamp_min(1.0)
    return (onehot.t() @ z) / counts.unsqueeze(1)


class ProtoNet(Learner):
    """logits_k = -scale * d(f(x), c_k), c_k the mean support embedding of class k.

    Args:
        backbone: feature extractor.
        distance: "sqeuclidean" (the paper), "euclidean" or "cosine".
        learn_scale: learn the logit scale (useful with cosine, whose range is [0, 2]);
            initialised to 10 for cosine and fixed at 1 otherwise unless asked.
    """

    def __init__(self, backbone: nn.Module, distance: str = "sqeuclidean", learn_scale: bool = True):
        super().__init__(backbone)
        self.distance_name = distance
        self.distance = get_distance(distance)
        init = 10.0 if distance == "cosine" else 1.0
        scale = torch.tensor(init)
        if learn_scale and distance == "cosine":
            self.scale = nn.Parameter(scale)
        else:
            self.register_buffer("scale", scale)

    def logits_from_features(self, zs, ys, zq, n_way):
        protos = prototypes(zs, ys, n_way)
        return -self.scale * self.distance(zq, protos)

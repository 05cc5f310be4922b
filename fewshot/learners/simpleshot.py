"""Standard pre-training evaluated by nearest centroid (SimpleShot).

The backbone is trained with cross-entropy over all base classes (``fewshot.engine.pretrain``,
a linear or cosine head from :func:`make_head`, no episodes), then thrown away head and all but
the features: a query goes to the nearest class centroid of the support features, after the
feature transform of SimpleShot (Wang et al. 2019, https://arxiv.org/abs/1911.04623) -
"UN" (none), "L2N" (L2 normalisation) or "CL2N" (subtract the base-class mean feature, then
L2-normalise). The same recipe is the feature extractor of "Clustering is all you need?"
(Ziko et al. 2021) and LaplacianShot.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..distances import squared_euclidean
from .base import Learner
from .protonet import prototypes


class SimpleShot(Learner):
    """Nearest-centroid classifier on transformed backbone features.

    logits_k = -scale * ||t(f(x)) - c_k||^2, c_k the mean of t(f(x_i)) over class k's support,
    t(z) = (z - m) / ||z - m|| with the options below (SimpleShot averages transformed support
    features and does not re-normalise the centroid; we do the same).

    The base-class mean feature m is a buffer (``base_mean``) so it travels in checkpoints; the
    pre-training loop sets it with :meth:`set_base_mean` before every validation and at the
    end. A learner that never had it set (a freshly built one) does not centre, and warns.

    Args:
        backbone: feature extractor.
        feature_dim: size of the backbone output (the shape of ``base_mean``).
        l2: L2-normalise features (after centring).
        center: subtract the base-class mean feature (SimpleShot's "C").
        scale: logit temperature; only the loss of ``episode_loss`` depends on it, not the
            nearest centroid.
    """

    uses_features = True

    def __init__(self, backbone: nn.Module, feature_dim: int, l2: bool = True, center: bool = True,
                 scale: float = 1.0):
        super().__init__(backbone)
        if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
            raise ValueError(f"SimpleShot feature_dim must be an integer >= 1, got {feature_dim!r}")
        if not scale > 0:
            raise ValueError(f"SimpleShot option scale must be > 0, got {scale!r}")
        self.l2, self.center, self.scale = bool(l2), bool(center), float(scale)
        self.register_buffer("base_mean", torch.zeros(feature_dim))
        self.register_buffer("has_base_mean", torch.tensor(False))
        self._warned = False

    def set_base_mean(self, mean: torch.Tensor) -> None:
        """Store the mean feature of the base (training) classes. mean: (feature_dim,)."""
        if mean.shape != self.base_mean.shape:
            raise ValueError(f"base-class mean must have shape {tuple(self.base_mean.shape)}, "
                             f"got {tuple(mean.shape)}")
        self.base_mean.copy_(mean.detach())
        self.has_base_mean.fill_(True)

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """z: (n, D) raw features -> (n, D) centred and/or L2-normalised features."""
        if self.center:
            if bool(self.has_base_mean):
                z = z - self.base_mean.to(z.dtype)
            elif not self._warned:
                warnings.warn("SimpleShot: no base-class mean stored (an untrained model?); features "
                              "are not centred", stacklevel=2)
                self._warned = True
        if self.l2:
            z = F.normalize(z, dim=1)
        return z

    def logits_from_features(self, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor,
                             n_way: int) -> torch.Tensor:
        """zs: (n_support, D), ys: (n_support,) in 0..n_way-1, zq: (n_query, D) -> (n_query, n_way)."""
        centroids = prototypes(self.transform(zs), ys, n_way)
        return -self.scale * squared_euclidean(self.transform(zq), centroids)


class CosineHead(nn.Module):
    """logits = s * cos(z, w_c) (Baseline++, Chen et al. 2019, https://arxiv.org/abs/1904.04232).

    Args:
        feature_dim: D.
        n_classes: C.
        scale: initial temperature s.
        learn_scale: make s a parameter.
    """

    def __init__(self, feature_dim: int, n_classes: int, scale: float = 10.0, learn_scale: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, feature_dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's initialisation
        s = torch.tensor(float(scale))
        if learn_scale:
            self.scale = nn.Parameter(s)
        else:
            self.register_buffer("scale", s)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, D) -> (B, C)."""
        return self.scale * F.normalize(z, dim=1) @ F.normalize(self.weight, dim=1).t()


HEADS = ("linear", "cosine")


def make_head(kind: str, feature_dim: int, n_classes: int, scale: float = 10.0,
              learn_scale: bool = True) -> nn.Module:
    """The pre-training classifier over all base classes: ``"linear"`` or ``"cosine"``."""
    if kind == "linear":
        return nn.Linear(feature_dim, n_classes)
    if kind == "cosine":
        return CosineHead(feature_dim, n_classes, scale, learn_scale)
    raise ValueError(f"pretrain.head must be one of {HEADS}, got {kind!r}")

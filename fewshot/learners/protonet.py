"""Prototypical Networks (Snell et al. 2017, https://arxiv.org/abs/1703.05175)."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Union

import torch
from torch import nn

from ..distances import get_distance
from ..losses import EpisodeLoss, EpisodeOutputs
from ..transductive.prototypes import prototypes  # the one prototype function
from .base import Learner


class ProtoNet(Learner):
    """logits_k = -scale * d(f(x), c_k), c_k the mean support embedding of class k.

    Args:
        backbone: feature extractor.
        distance: "sqeuclidean" (the paper), "euclidean" or "cosine".
        learn_scale: learn the logit scale (useful with cosine, whose range is [0, 2]);
            initialised to 10 for cosine and fixed at 1 otherwise unless asked.
        losses: training terms and weights, e.g. ``{ce: 1.0, triplet: 1.0}`` (the weighted mean is
            trained on; weight 0 = logged only). Default: cross-entropy alone, the paper's loss.
            Terms: see ``fewshot.losses.LOSS_TERMS`` (ce, triplet, icnn, icnn_support, ...).
        **loss_options: ``margin`` (Proto-Triplet, 0.5), ``icnn_k`` (4), ``icnn_variant``
            (support | query | full), ``icnn_style`` (paper | authors), ``icnn_query_target``
            (support | prototypes); see ``fewshot.losses``.
    """

    def __init__(self, backbone: nn.Module, distance: str = "sqeuclidean", learn_scale: bool = True,
                 losses: Optional[Union[Mapping[str, float], str, list]] = None, **loss_options):
        super().__init__(backbone)
        self.loss_fn = EpisodeLoss(losses, **loss_options)
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

    def episode_loss(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                     query_labels: torch.Tensor, n_way: int) -> Dict[str, torch.Tensor]:
        """The selected loss terms over one episode (one backbone pass over support and query).

        Returns ``loss`` (weighted mean of the terms), ``acc`` and each term under its name.
        """
        z = self.embed(torch.cat([support, query]))
        zs, zq = z[: len(support)], z[len(support):]
        protos = prototypes(zs, support_labels, n_way)
        logits = -self.scale * self.distance(zq, protos)
        return self.loss_fn(EpisodeOutputs(zs, support_labels, zq, query_labels, logits, protos))

"""Turn a config into a learner (backbone + method), the one place that knows both registries."""

from __future__ import annotations

import torch

from ..backbones import create_backbone
from ..config import Config
from ..interpolation import wrap_interpolation
from ..learners import LEARNERS, create_learner


def build_learner(cfg: Config, in_channels: int):
    """Backbone and learner named in ``cfg.model``, for images with ``in_channels`` channels."""
    m = cfg.model
    backbone = create_backbone(m.backbone, in_channels=in_channels, width=m.width)
    kwargs = dict(m.options)
    interpolation = kwargs.pop("interpolation", None)  # a wrapper, not a learner option
    if m.learner == "protonet":
        kwargs.setdefault("distance", m.distance)
        kwargs.setdefault("learn_scale", m.learn_scale)
    if getattr(LEARNERS.get(m.learner), "wants_feature_dim", False) and "feature_dim" not in kwargs:
        kwargs["feature_dim"] = feature_dim(backbone, in_channels, cfg.data.image_size)
    if getattr(LEARNERS.get(m.learner), "wants_n_way", False):  # a fixed head (MAML family)
        kwargs.setdefault("n_way", cfg.train.n_way)
    learner = create_learner(m.learner, backbone, **kwargs)
    return wrap_interpolation(learner, interpolation, total_episodes=cfg.train.episodes)


@torch.no_grad()
def feature_dim(backbone, in_channels: int, image_size: int) -> int:
    """Output size of ``backbone`` on (image_size x image_size) images: one probe forward pass."""
    was_training = backbone.training
    backbone.eval()  # eval: the probe must not touch BatchNorm running statistics
    out = backbone(torch.zeros(1, in_channels, image_size, image_size))
    backbone.train(was_training)
    return int(out.shape[1])

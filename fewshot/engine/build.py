"""Turn a config into a learner (backbone + method), the one place that knows both registries."""

from __future__ import annotations

from ..backbones import create_backbone
from ..config import Config
from ..learners import create_learner


def build_learner(cfg: Config, in_channels: int):
    """Backbone and learner named in ``cfg.model``, for images with ``in_channels`` channels."""
    m = cfg.model
    backbone = create_backbone(m.backbone, in_channels=in_channels, width=m.width)
    kwargs = dict(m.options)
    if m.learner == "protonet":
        kwargs.setdefault("distance", m.distance)
        kwargs.setdefault("learn_scale", m.learn_scale)
    return create_learner(m.learner, backbone, **kwargs)

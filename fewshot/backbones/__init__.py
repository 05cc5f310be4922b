"""Backbones: feature extractors exposing ``blocks`` and ``forward_from(x, start, stop)``."""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from .conv4 import Conv4
from .resnet12 import ResNet12

BACKBONES: Dict[str, Callable[..., nn.Module]] = {
    "conv4": lambda in_channels=1, width=64, **kw: Conv4(in_channels, width, **kw),
    "conv4-avg": lambda in_channels=1, width=64, **kw: Conv4(in_channels, width, pool="avg", **kw),
    "resnet12": lambda in_channels=3, width=64, **kw: ResNet12(
        in_channels, tuple(int(width * m) for m in (1, 2.5, 5, 10)), **kw),
}


def create_backbone(name: str, **kwargs) -> nn.Module:
    """Build a registered backbone by name (``conv4``, ``conv4-avg``, ``resnet12``)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](**kwargs)


__all__ = ["BACKBONES", "Conv4", "ResNet12", "create_backbone"]

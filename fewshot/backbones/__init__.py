"""Backbones: feature extractors exposing ``blocks``, ``forward_from(x, start, stop)`` and
``feature_size(image_size)``.

Registered by name in :data:`BACKBONES` (a :class:`fewshot.registry.Registry`); every factory
takes ``in_channels`` and ``width`` (the config passes both; 64 is the paper's size everywhere),
plus its own options. Names of the form ``torchvision/<model>`` and ``timm/<model>`` resolve to
any torchvision classifier / timm model (head removed, features pooled). A user's own backbone::

    from fewshot.backbones import BACKBONES

    @BACKBONES.register("mynet")
    def mynet(in_channels=3, width=64): ...
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import Registry
from .conv4 import Conv4
from .dropblock import DropBlock
from .external import SOURCES, TimmBackbone, TorchvisionBackbone, external_factory, is_known, timm_available
from .resnet import ResNet
from .resnet12 import ResNet12
from .weights import LoadReport, WeightsError, load_weights, read_state_dict
from .wrn import WideResNet


class BackboneRegistry(Registry):
    """The backbone registry: registered names, plus ``torchvision/<model>`` and ``timm/<model>``
    resolved on demand (they are not listed by iteration: there are hundreds)."""

    def get(self, name: str, default: Any = ...) -> Any:  # type: ignore[override]
        if isinstance(name, str) and name not in self._entries and "/" in name:
            source, _, model = name.partition("/")
            if source in SOURCES and model:  # the class says what is wrong with an unknown model
                return external_factory(source, model)
        return super().get(name, default)

    def __getitem__(self, name: str) -> Any:
        factory = self.get(name, None)
        if factory is None:
            raise KeyError(self.unknown_message(name))
        return factory

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._entries and "/" in name:
            source, _, model = name.partition("/")
            return source in SOURCES and is_known(source, model)
        return super().__contains__(name)

    def module_of(self, name: str) -> str:
        return "fewshot.backbones.external" if name not in self._entries else super().module_of(name)

    def unknown_message(self, name: object) -> str:
        timm_note = "" if timm_available() else " (timm is not installed: pip install 'fewshot[timm]')"
        return (f"{super().unknown_message(name)}; or torchvision/<model> for any torchvision.models "
                f"classifier (e.g. torchvision/resnet18), or timm/<model>{timm_note}")


BACKBONES = BackboneRegistry("backbone")


def _resnet12_widths(width: int) -> tuple:
    return tuple(int(width * m) for m in (1, 2.5, 5, 10))


@BACKBONES.register("conv4", features="width * (H // 16)^2: 64 at 28x28, 1600 at 84x84")
def conv4(in_channels: int = 1, width: int = 64, **kw: Any) -> Conv4:
    """Conv4 (Vinyals et al.; Snell et al.), flattened."""
    return Conv4(in_channels, width, **kw)


@BACKBONES.register("conv4-avg", features="width: 64")
def conv4_avg(in_channels: int = 1, width: int = 64, **kw: Any) -> Conv4:
    """Conv4 with global average pooling (the Proto-Triplet / ICNN paper)."""
    return Conv4(in_channels, width, pool="avg", **kw)


@BACKBONES.register("resnet12", features="10 * width: 640 (flattened with avg_pool=False: 640 * (H // 16)^2)")
def resnet12(in_channels: int = 3, width: int = 64, **kw: Any) -> ResNet12:
    """ResNet-12, widths width * (1, 2.5, 5, 10); DropBlock and the rest through ``kw``
    (``drop_rate``, ``dropblock_size``, ``avg_pool``, ``init``: see :class:`ResNet12`)."""
    return ResNet12(in_channels, _resnet12_widths(width), **kw)


@BACKBONES.register("resnet12-dropblock", features="10 * width: 640")
def resnet12_dropblock(in_channels: int = 3, width: int = 64, drop_rate: float = 0.1, dropblock_size: int = 5,
                       avg_pool: bool = True, init: str = "kaiming", **kw: Any) -> ResNet12:
    """ResNet-12 with FEAT's settings (MetaOptNet's with ``avg_pool=False``): drop rate 0.1,
    DropBlock size 5 with the ramped keep rate, Kaiming initialisation."""
    return ResNet12(in_channels, _resnet12_widths(width), drop_rate=drop_rate, dropblock_size=dropblock_size,
                    avg_pool=avg_pool, init=init, **kw)


@BACKBONES.register("resnet10", features="8 * width: 512")
def resnet10(in_channels: int = 3, width: int = 64, stem: str = "closer_look", **kw: Any) -> ResNet:
    """ResNet-10 (Closer Look), widths width * (1, 2, 4, 8); ``stem="simpleshot"`` for SimpleShot's."""
    return ResNet(in_channels, (1, 1, 1, 1), tuple(width * m for m in (1, 2, 4, 8)), stem=stem, **kw)


@BACKBONES.register("resnet18", features="8 * width: 512")
def resnet18(in_channels: int = 3, width: int = 64, stem: str = "closer_look", **kw: Any) -> ResNet:
    """ResNet-18 (Closer Look), widths width * (1, 2, 4, 8); ``stem="simpleshot"`` for SimpleShot's."""
    return ResNet(in_channels, (2, 2, 2, 2), tuple(width * m for m in (1, 2, 4, 8)), stem=stem, **kw)


@BACKBONES.register("wrn28_10", features="10 * width: 640")
def wrn28_10(in_channels: int = 3, width: int = 64, **kw: Any) -> WideResNet:
    """WRN-28-10 (SimpleShot / LaplacianShot / TIM). ``width`` scales it as it scales ResNet-12:
    64 gives the paper's stem 16 and stages 160-320-640 (width * (1/4, 2.5, 5, 10))."""
    widths = (max(1, width // 4), int(width * 2.5), width * 5, width * 10)
    return WideResNet(in_channels, 28, widths, **kw)


def create_backbone(name: str, **kwargs: Any) -> nn.Module:
    """Build a backbone by name: a registered one (``sorted(BACKBONES)``), ``torchvision/<model>``
    or ``timm/<model>``."""
    return BACKBONES.create(name, **kwargs)


@torch.no_grad()
def feature_size(backbone: nn.Module, in_channels: int, image_size: int) -> int:
    """Output size D of ``backbone`` on (in_channels, image_size, image_size) images: its
    ``feature_size(image_size)`` when it has one, else one probe forward pass in eval mode."""
    if hasattr(backbone, "feature_size"):
        return int(backbone.feature_size(image_size))
    was_training = backbone.training
    backbone.eval()  # the probe must not touch BatchNorm running statistics
    try:
        out = backbone(torch.zeros(1, in_channels, image_size, image_size))
    finally:
        backbone.train(was_training)
    return int(out.shape[1])


__all__ = ["BACKBONES", "BackboneRegistry", "Conv4", "DropBlock", "LoadReport", "ResNet", "ResNet12",
           "TimmBackbone", "TorchvisionBackbone", "WeightsError", "WideResNet", "create_backbone",
           "feature_size", "load_weights", "read_state_dict"]

"""ResNet-10 / ResNet-18 as in "A Closer Look at Few-Shot Classification" (Chen et al., ICLR 2019,
arXiv 1904.04232; wyharveychen/CloserLookFewShot) and SimpleShot (Wang et al. 2019,
arXiv 1911.04623; mileyan/simple_shot)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import BlockBackbone, he_init

STEMS = ("closer_look", "simpleshot")


class BasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN plus the shortcut (1x1 conv + BN when the shape
    changes), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(BlockBackbone):
    """A stem and four stages of :class:`BasicBlock` (strides 1, 2, 2, 2), global average pooling.

    ``blocks`` = [stem, stage1, stage2, stage3, stage4] (five blocks for hidden-layer mixing).

    Args:
        in_channels: 1 for grayscale, 3 for colour.
        layers: blocks per stage: (1, 1, 1, 1) is ResNet-10, (2, 2, 2, 2) ResNet-18.
        widths: channels of the four stages (64-128-256-512 in both papers).
        stem: ``"closer_look"`` (the ImageNet stem of the Closer Look code: conv7x7 stride 2,
            BN, ReLU, maxpool3 stride 2; their images are 224x224) or ``"simpleshot"``
            (SimpleShot's code for 84x84 images: conv3x3 stride 1, BN, ReLU, no maxpool: 16x
            the compute of the other stem at the same input size).
    """

    def __init__(self, in_channels: int = 3, layers: Sequence[int] = (2, 2, 2, 2),
                 widths: Sequence[int] = (64, 128, 256, 512), stem: str = "closer_look"):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"ResNet stem must be one of {STEMS}, got {stem!r}")
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"ResNet needs 4 stages, got layers={tuple(layers)}, widths={tuple(widths)}")
        if stem == "closer_look":
            first = nn.Sequential(nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        else:
            first = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, chans = [], widths[0]
        for i, (n, width) in enumerate(zip(layers, widths)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(chans, width, stride)] + [BasicBlock(width, width) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            chans = width
        self.blocks = nn.ModuleList([first, *stages])
        self.widths = tuple(widths)
        he_init(self, "relu")  # both official codes: He init (fan-out), BN weight 1, bias 0

    def feature_size(self, image_size: int) -> int:
        """Output size D (global average pooling: independent of the input size)."""
        return self.widths[-1]

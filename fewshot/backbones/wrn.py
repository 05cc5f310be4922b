"""Wide ResNet (Zagoruyko & Komodakis 2016, arXiv 1605.07146) as used for WRN-28-10 by SimpleShot
(mileyan/simple_shot, ``src/models/WideResNet.py``), LaplacianShot and TIM."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import BlockBackbone, he_init


class WideBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3-dropout-BN-ReLU-conv3x3(stride) plus the shortcut
    (a 1x1 conv when the shape changes). Convolutions have biases, as in the official code."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv1(F.relu(self.bn1(x))))
        out = self.conv2(F.relu(self.bn2(out)))
        return out + self.shortcut(x)


class WideResNet(BlockBackbone):
    """WRN-depth-k: conv3x3(16), three stages of (depth - 4) / 6 :class:`WideBlock` (strides 1,
    2, 2), BN-ReLU, global average pooling. 640-d for WRN-28-10 at any input size.

    ``blocks`` = [stem conv, stage1, stage2, stage3 + final BN-ReLU].

    Args:
        in_channels: 1 for grayscale, 3 for colour.
        depth: 6n + 4 (28 for WRN-28-10).
        widths: channels of the stem and the three stages ((16, 160, 320, 640) for k = 10).
        dropout: inside each block (0 in SimpleShot's WRN-28-10).
        final_bn_momentum: momentum of the final BatchNorm. The official code sets 0.9, which
            in PyTorch's convention weights the *new* batch by 0.9; kept as the default so
            running statistics match the published models; 0.1 is PyTorch's usual value.
    """

    def __init__(self, in_channels: int = 3, depth: int = 28, widths: Sequence[int] = (16, 160, 320, 640),
                 dropout: float = 0.0, final_bn_momentum: float = 0.9):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4 (n >= 1), e.g. 28; got {depth!r}")
        if len(widths) != 4:
            raise ValueError(f"WideResNet needs 4 widths (stem and 3 stages), got {tuple(widths)}")
        n = (depth - 4) // 6
        stages, chans = [], widths[0]
        for i, width in enumerate(widths[1:]):
            stride = 1 if i == 0 else 2
            stage = [WideBlock(chans, width, stride, dropout)] + [WideBlock(width, width, 1, dropout)
                                                                   for _ in range(n - 1)]
            stages.append(stage)
            chans = width
        stages[-1] += [nn.BatchNorm2d(chans, momentum=final_bn_momentum), nn.ReLU()]
        self.blocks = nn.ModuleList([nn.Conv2d(in_channels, widths[0], 3, padding=1),
                                     *(nn.Sequential(*s) for s in stages)])
        self.widths = tuple(widths)
        he_init(self, "relu")  # as the official code: He init (fan-out), BN weight 1, bias 0

    def feature_size(self, image_size: int) -> int:
        """Output size D (global average pooling: independent of the input size)."""
        return self.widths[-1]

"""ResNet-12 as used in few-shot learning (Oreshkin et al. 2018, Lee et al. 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    """Three conv3x3-BN(-LeakyReLU) layers with a 1x1-conv shortcut, then maxpool2."""

    def __init__(self, in_channels: int, out_channels: int, slope: float = 0.1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.slope = slope
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.bn1(self.conv1(x)), self.slope)
        out = F.leaky_relu(self.bn2(self.conv2(out)), self.slope)
        out = self.bn3(self.conv3(out))
        out = F.leaky_relu(out + self.shortcut(x), self.slope)
        return self.pool(out)


class ResNet12(nn.Module):
    """Four residual blocks (widths 64-160-320-640 by default), global average pooling.

    Args:
        in_channels: 1 for grayscale, 3 for colour.
        widths: channels of the four blocks.
    """

    def __init__(self, in_channels: int = 3, widths: tuple = (64, 160, 320, 640)):
        super().__init__()
        chans = [in_channels, *widths]
        self.blocks = nn.ModuleList(ResBlock(a, b) for a, b in zip(chans[:-1], chans[1:]))

    def forward_from(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run blocks ``start .. stop-1``; with ``stop=None`` also the final pooling."""
        for block in self.blocks[start:stop]:
            x = block(x)
        if stop is None or stop >= len(self.blocks):
            x = self.head(x)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) float -> (B, widths[-1]) features."""
        return self.forward_from(x)

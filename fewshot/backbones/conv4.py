"""Conv4: the four-block convolutional backbone of Vinyals et al. and Snell et al."""

from __future__ import annotations

import torch
from torch import nn

from .base import BlockBackbone


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3 -> BatchNorm -> ReLU -> maxpool2."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class Conv4(BlockBackbone):
    """4 x [conv3x3(width) -> BN -> ReLU -> maxpool2], flattened.

    Output size: ``width * (H // 16) ** 2`` (1600 at 84x84, 64 at 28x28 with width 64).
    ``blocks`` is exposed so that representations can be mixed or bounded between blocks.

    Args:
        in_channels: 1 for grayscale, 3 for colour.
        width: channels of every block (64 in the papers, 32 in few-task settings).
        pool: "flatten" (Snell et al.) or "avg" (global average pooling, as in the
            Proto-Triplet/ICNN paper).
    """

    def __init__(self, in_channels: int = 1, width: int = 64, pool: str = "flatten"):
        super().__init__()
        if pool not in ("flatten", "avg"):
            raise ValueError(f"Conv4 pool must be 'flatten' or 'avg', got {pool!r}")
        self.blocks = nn.ModuleList(
            [conv_block(in_channels, width)] + [conv_block(width, width) for _ in range(3)]
        )
        self.pool = pool
        self.width = width

    def feature_size(self, image_size: int) -> int:
        """Output size D for (image_size x image_size) inputs (each maxpool floors)."""
        return self.width if self.pool == "avg" else self.width * (image_size // 16) ** 2

    def head(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool == "avg":
            return x.mean(dim=(2, 3))
        return x.flatten(1)

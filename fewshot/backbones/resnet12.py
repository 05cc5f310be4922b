"""ResNet-12 as used in few-shot learning (Oreshkin et al. 2018; Lee et al. 2019, MetaOptNet,
arXiv 1904.03758; Ye et al. 2020, FEAT, arXiv 1812.03664), optionally with DropBlock."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import BlockBackbone, he_init
from .dropblock import SCHEDULE_STEPS, DropBlock


class ResBlock(nn.Module):
    """Three conv3x3-BN(-LeakyReLU) layers with a 1x1-conv shortcut, then maxpool2, then the
    optional regulariser ``drop`` (dropout or DropBlock; without one the block holds no extra
    state, so checkpoints of the plain ResNet-12 keep their keys)."""

    def __init__(self, in_channels: int, out_channels: int, slope: float = 0.1,
                 drop: Optional[nn.Module] = None):
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
        if drop is not None:
            self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.bn1(self.conv1(x)), self.slope)
        out = F.leaky_relu(self.bn2(self.conv2(out)), self.slope)
        out = self.bn3(self.conv3(out))
        out = F.leaky_relu(out + self.shortcut(x), self.slope)
        out = self.pool(out)
        drop = getattr(self, "drop", None)
        return out if drop is None else drop(out)


class ResNet12(BlockBackbone):
    """Four residual blocks (widths 64-160-320-640 by default), then global average pooling.

    With the defaults this is the plain ResNet-12 fewshot has always built (no dropout, PyTorch's
    default initialisation). MetaOptNet / FEAT's settings are ``drop_rate=0.1, dropblock_size=5,
    init="kaiming"``: dropout after blocks 1-2, DropBlock with the ramped keep rate after blocks
    3-4 (see :mod:`fewshot.backbones.dropblock`); FEAT averages the final 5x5 map
    (``avg_pool=True``), MetaOptNet flattens it (``avg_pool=False``, 16000-d at 84x84).

    Args:
        in_channels: 1 for grayscale, 3 for colour.
        widths: channels of the four blocks.
        drop_rate: dropout / DropBlock rate; 0 (the default) adds neither.
        dropblock_size: DropBlock's block side (5 on miniImageNet in both papers).
        drop_schedule_steps: training passes over which DropBlock's keep rate ramps to
            1 - drop_rate (20 * 2000 in the official code).
        avg_pool: global average pooling (True) or flattening (False) of the last map.
        init: ``"torch"`` (PyTorch's defaults, as before) or ``"kaiming"`` (the official code:
            conv weights Kaiming-normal, fan-out, leaky-ReLU gain; BatchNorm weight 1, bias 0).
    """

    def __init__(self, in_channels: int = 3, widths: tuple = (64, 160, 320, 640), drop_rate: float = 0.0,
                 dropblock_size: int = 5, drop_schedule_steps: int = SCHEDULE_STEPS, avg_pool: bool = True,
                 init: str = "torch"):
        super().__init__()
        if init not in ("torch", "kaiming"):
            raise ValueError(f"ResNet12 init must be 'torch' or 'kaiming', got {init!r}")
        if len(widths) != 4:
            raise ValueError(f"ResNet12 needs 4 widths, got {widths!r}")
        chans = [in_channels, *widths]
        drops = [None] * 4
        if drop_rate > 0:
            drops = [nn.Dropout(drop_rate), nn.Dropout(drop_rate),
                     DropBlock(drop_rate, dropblock_size, drop_schedule_steps),
                     DropBlock(drop_rate, dropblock_size, drop_schedule_steps)]
        self.blocks = nn.ModuleList(ResBlock(a, b, drop=d) for a, b, d in zip(chans[:-1], chans[1:], drops))
        self.avg_pool = bool(avg_pool)
        self.widths = tuple(widths)
        if init == "kaiming":
            he_init(self, "leaky_relu")  # MetaOptNet / FEAT: He init (fan-out), BN weight 1, bias 0

    def feature_size(self, image_size: int) -> int:
        """Output size D for (image_size x image_size) inputs."""
        return self.widths[-1] * (1 if self.avg_pool else (image_size // 16) ** 2)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) if self.avg_pool else x.flatten(1)

"""What every block backbone shares: blocks run in order, then a head (pooling or flattening).

``forward_from(x, start, stop)`` runs a slice of the blocks, so hidden-layer interpolation (MLTI)
and interval bounds (IBI) can enter or leave the network between blocks; ``forward`` is the
whole network. Subclasses set ``self.blocks`` and define ``feature_size`` (and ``head`` when it is
not global average pooling).
"""

from __future__ import annotations

import torch
from torch import nn


class BlockBackbone(nn.Module):
    blocks: nn.ModuleList

    def feature_size(self, image_size: int) -> int:
        """Output size D for (image_size x image_size) inputs."""
        raise NotImplementedError

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pooling (subclasses may flatten instead)."""
        return x.mean(dim=(2, 3))

    def forward_from(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run blocks ``start .. stop-1``; with ``stop=None`` also the final pooling."""
        for block in self.blocks[start:stop]:
            x = block(x)
        if stop is None or stop >= len(self.blocks):
            x = self.head(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) float -> (B, D) features, D = :meth:`feature_size`."""
        return self.forward_from(x)


def he_init(module: nn.Module, nonlinearity: str = "relu") -> None:
    """He (fan-out) initialisation of every convolution, BatchNorm weight 1 and bias 0, as the
    official ResNet / WRN / MetaOptNet codes do."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity=nonlinearity)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


__all__ = ["BlockBackbone", "he_init"]

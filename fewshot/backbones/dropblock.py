"""DropBlock (Ghiasi et al. 2018, arXiv 1810.12890) with the keep-rate schedule of MetaOptNet / FEAT.

Follows the official code of MetaOptNet (kjunelee/MetaOptNet, ``models/ResNet12_embedding.py``)
and FEAT (Sha-Lab/FEAT, ``model/networks/res12.py``), which share it:

* keep_rate = max(1 - drop_rate * t / T, 1 - drop_rate), t = forward passes so far (this one
  included), T = 20 * 2000 = 40000: the drop rate ramps up linearly, then stays.
* gamma = (1 - keep_rate) / b^2 * H W / ((H - b + 1) (W - b + 1)); block seeds are drawn with
  probability gamma over the (H - b + 1) x (W - b + 1) positions where a b x b block fits, each
  seed zeroes the block whose top-left corner it is, the rest is scaled by numel / kept.

Two deliberate differences, both documented where they apply:

* ``t`` counts *training-mode* passes only, in a buffer (so it is saved and resumed); the
  official code counts every call in a plain attribute, so validation passes advanced it too
  and a resumed run restarted the ramp.
* a block larger than the feature map is clipped to the map (as timm's ``drop_block_2d`` does);
  the official code fails there (ResNet-12 at 28x28 has 3x3 and 1x1 maps in its last blocks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: MetaOptNet / FEAT: the keep rate reaches 1 - drop_rate after 20 * 2000 forward passes.
SCHEDULE_STEPS = 20 * 2000


class DropBlock(nn.Module):
    """Drop contiguous b x b regions of a feature map while training.

    Args:
        drop_rate: final drop probability (0.1 in MetaOptNet / FEAT); 0 disables it.
        block_size: side b of a dropped block (5 on miniImageNet, 2 on CIFAR-FS in MetaOptNet).
        schedule_steps: training passes over which the keep rate ramps from 1 to
            1 - drop_rate; 0 starts at 1 - drop_rate.
    """

    def __init__(self, drop_rate: float = 0.1, block_size: int = 5, schedule_steps: int = SCHEDULE_STEPS):
        super().__init__()
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"DropBlock drop_rate must be in [0, 1), got {drop_rate!r}")
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"DropBlock dropblock_size must be an integer >= 1, got {block_size!r}")
        if isinstance(schedule_steps, bool) or not isinstance(schedule_steps, int) or schedule_steps < 0:
            raise ValueError(f"DropBlock schedule_steps must be an integer >= 0, got {schedule_steps!r}")
        self.drop_rate, self.block_size, self.schedule_steps = float(drop_rate), block_size, schedule_steps
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def keep_rate(self, steps: int) -> float:
        """Keep rate after ``steps`` training passes (the official schedule)."""
        if self.schedule_steps == 0:
            return 1.0 - self.drop_rate
        return max(1.0 - self.drop_rate * steps / self.schedule_steps, 1.0 - self.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> same shape; the identity in eval mode."""
        if not self.training or self.drop_rate == 0.0:
            return x
        self.steps += 1
        keep = self.keep_rate(int(self.steps))
        h, w = x.shape[-2:]
        b = min(self.block_size, h, w)
        gamma = (1.0 - keep) / b ** 2 * (h * w) / ((h - b + 1) * (w - b + 1))
        seeds = torch.bernoulli(torch.full((*x.shape[:2], h - b + 1, w - b + 1), min(gamma, 1.0),
                                           device=x.device, dtype=x.dtype))
        # A seed at (i, j) covers rows i..i+b-1, columns j..j+b-1: pad b-1 on every side, max-pool b.
        dropped = F.max_pool2d(F.pad(seeds, (b - 1, b - 1, b - 1, b - 1)), kernel_size=b, stride=1)
        mask = 1.0 - dropped
        return x * mask * (mask.numel() / mask.sum().clamp(min=1.0))

    def extra_repr(self) -> str:
        return f"drop_rate={self.drop_rate}, block_size={self.block_size}, schedule_steps={self.schedule_steps}"

"""From uint8 image arrays to normalised float tensors, on the device.

Images stay uint8 (a quarter of float32's bytes) until they reach the device, where they are
converted and normalised in one batched operation.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch


def channels_of(images: np.ndarray) -> int:
    """(N, H, W) -> 1; (N, H, W, C) -> C."""
    return 1 if images.ndim == 3 else int(images.shape[-1])


def pixel_stats(images: np.ndarray, max_images: int = 5000) -> Tuple[list, list]:
    """Per-channel mean and std in [0, 1] units, from an evenly spaced subset of the images."""
    step = max(1, len(images) // max_images)
    sample = np.asarray(images[::step], dtype=np.float64) / 255.0
    axes = tuple(range(sample.ndim - (0 if sample.ndim == 3 else 1)))
    mean = np.atleast_1d(sample.mean(axis=axes))
    std = np.atleast_1d(sample.std(axis=axes)).clip(1e-3)
    return mean.tolist(), std.tolist()


class Normalizer:
    """uint8 (B, H, W[, C]) tensor -> float (B, C, H, W), ``(x / 255 - mean) / std``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        # (x / 255 - mean) / std == x * scale + shift: one multiply and one add, both in place
        self.scale, self.shift = 1.0 / (255.0 * self.std), -self.mean / self.std

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if x.dim() == 3:
            x = x.unsqueeze(1)
        elif x.dim() == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            # channels first while still uint8 (a quarter of the bytes to move), so that the float
            # tensor is written once, contiguous: ~6x faster than converting the permuted view
            x = x.permute(0, 3, 1, 2).contiguous()
        if x.is_floating_point():  # never write into the caller's tensor
            return x.float() * self.scale + self.shift
        return x.float().mul_(self.scale).add_(self.shift)


def gather(images: np.ndarray, index: np.ndarray) -> torch.Tensor:
    """One fancy-indexing gather from a (possibly memory-mapped) uint8 array -> uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(images[np.asarray(index)]))

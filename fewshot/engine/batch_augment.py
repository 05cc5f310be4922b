"""Batch augmentation on the device for standard pre-training: flips and random resized crops.

Every image of a batch gets its own crop and flip from one affine resampling
(``affine_grid`` + ``grid_sample``), so augmentation costs one batched op instead of a Python
loop over images. Randomness comes from an explicit generator (seeded per step by the caller),
so a resumed run draws the same crops.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F

AUGMENTS = ("none", "flip", "crop_flip")


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def random_boxes(n: int, generator: torch.Generator, scale: Tuple[float, float] = (0.08, 1.0),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Crop boxes as torchvision's RandomResizedCrop draws them: area fraction ~ U(scale),
    log aspect ratio ~ U(log ratio). Instead of torchvision's ten retries and centre-crop
    fallback, a side that would leave the image is clipped to the full side.

    Returns:
        (n, 4) float64: half-width, half-height, centre x, centre y, in ``affine_grid``'s
        [-1, 1] coordinates (half-width 1 = the full width).
    """
    area = _uniform(n, scale[0], scale[1], generator)
    aspect = torch.exp(_uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator))
    half_w = torch.sqrt(area * aspect).clamp(max=1.0)
    half_h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * (1 - half_w)
    cy = (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * (1 - half_h)
    return torch.stack([half_w, half_h, cx, cy], dim=1)


def crop_and_flip(x: torch.Tensor, boxes: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Resample each image's box to the full image size, mirrored where ``flip``.

    Args:
        x: (B, C, H, W) float images.
        boxes: (B, 4) from :func:`random_boxes`.
        flip: (B,) bool.

    Returns:
        (B, C, H, W).
    """
    b = len(x)
    sign = 1.0 - 2.0 * flip.to(torch.float64)
    theta = torch.zeros(b, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = boxes[:, 0] * sign
    theta[:, 0, 2] = boxes[:, 2]
    theta[:, 1, 1] = boxes[:, 1]
    theta[:, 1, 2] = boxes[:, 3]
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Augment a batch: ``"none"``, ``"flip"`` (horizontal, p=1/2) or ``"crop_flip"`` (random
    resized crop back to the input size, then a horizontal flip with p=1/2: SimpleShot's
    ``RandomResizedCrop`` + ``RandomHorizontalFlip``).

    Args:
        x: (B, C, H, W) float images.
        kind: one of :data:`AUGMENTS`.
        generator: CPU generator that draws the flips and boxes.
    """
    if kind not in AUGMENTS:
        raise ValueError(f"pretrain.augment must be one of {AUGMENTS}, got {kind!r}")
    if kind == "none":
        return x
    flip = torch.rand(len(x), generator=generator) < 0.5
    if kind == "flip":
        return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)
    return crop_and_flip(x, random_boxes(len(x), generator), flip)

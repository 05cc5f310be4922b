"""Batched episode augmentation on the device: random resized crop, horizontal flip, colour jitter.

One call augments a whole (B, C, H, W) batch: crop and flip are one affine resampling
(``affine_grid`` + ``grid_sample``) with a box per image, colour jitter a few batched blends, so
the cost does not grow with a Python loop over images. Every random number comes from the
``torch.Generator`` passed in (CPU by default, like pre-training's), so the same generator state
gives the same pixels on any device, and the caller can make it part of the resume state.

Support and query are augmented by separate calls with their own :class:`Augment`
(``support=Augment(...), query=Augment()`` leaves the query untouched).

The one augmentation module: pre-training's ``pretrain.augment`` and episodic training's
``train.augment_support`` / ``train.augment_query`` presets both go through it (it replaced
pre-training's own module after drawing the same numbers in the same order for ``flip`` and
``crop_flip``). This module is a leaf: it imports nothing from fewshot.

Draw order per call, for whoever needs to reproduce it: flips (B uniforms, if ``flip > 0``), crop
boxes (area, log-aspect, centre x, centre y: B each, float64, if ``crop``), then brightness,
contrast, saturation factors (B each, for those enabled). Jitter is applied in that fixed order
(torchvision's ColorJitter shuffles the order per call) and clamps to [0, 1] after each step as
torchvision does; hue jitter is not provided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F

#: Named settings; ``crop_flip_jitter`` is the ColorJitter(0.4, 0.4, 0.4) of MetaOptNet / FEAT.
PRESETS = {
    "none": {},
    "flip": {"flip": 0.5},
    "crop_flip": {"crop": True, "flip": 0.5},
    "crop_flip_jitter": {"crop": True, "flip": 0.5, "brightness": 0.4, "contrast": 0.4, "saturation": 0.4},
}
_GREY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


@dataclass(frozen=True)
class Augment:
    """What to do to a batch. The defaults do nothing.

    Args:
        crop: random resized crop back to the input size (torchvision's RandomResizedCrop draw:
            area fraction ~ U(scale), log aspect ~ U(log ratio); a side that would leave the
            image is clipped to the full side instead of torchvision's retries).
        scale: area fraction range of the crop.
        ratio: aspect ratio range of the crop.
        flip: probability of a horizontal flip per image.
        brightness, contrast, saturation: jitter strengths v >= 0; each image's factor is
            U(max(0, 1 - v), 1 + v) (torchvision's ColorJitter). Saturation leaves grey images as they are.
    """

    crop: bool = False
    scale: Tuple[float, float] = (0.08, 1.0)
    ratio: Tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0

    def __post_init__(self):
        if not isinstance(self.crop, bool):
            raise ValueError(f"augment crop must be true or false, got {self.crop!r}")
        for name in ("scale", "ratio"):
            value = tuple(getattr(self, name))
            if len(value) != 2 or not 0 < value[0] <= value[1]:
                raise ValueError(f"augment {name} must be two numbers 0 < low <= high, got {getattr(self, name)!r}")
            object.__setattr__(self, name, (float(value[0]), float(value[1])))
        if self.scale[1] > 1:
            raise ValueError(f"augment scale must be within (0, 1], got {self.scale!r}")
        if not 0 <= self.flip <= 1:
            raise ValueError(f"augment flip is a probability in [0, 1], got {self.flip!r}")
        for name in ("brightness", "contrast", "saturation"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"augment {name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def enabled(self) -> bool:
        return self.crop or self.flip > 0 or self.jitter

    @property
    def jitter(self) -> bool:
        return self.brightness > 0 or self.contrast > 0 or self.saturation > 0

    @classmethod
    def parse(cls, spec: Union[None, str, Mapping[str, Any], "Augment"], what: str = "augment") -> "Augment":
        """From a preset name (:data:`PRESETS`), a dict of the fields, None (nothing) or an Augment;
        ``what`` names the option in errors (e.g. ``"train.augment_support"``)."""
        if spec is None:
            return cls()
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, str):
            if spec not in PRESETS:
                raise ValueError(f"{what} must be one of {', '.join(PRESETS)} or a mapping of "
                                 f"{', '.join(f.name for f in fields(cls))}; got {spec!r}")
            return cls(**PRESETS[spec])
        if isinstance(spec, Mapping):
            known = [f.name for f in fields(cls)]
            unknown = sorted(set(spec) - set(known))
            if unknown:
                raise ValueError(f"{what} has unknown keys {unknown}; valid: {', '.join(known)}")
            try:
                return cls(**spec)
            except ValueError as err:
                raise ValueError(f"{what}: {err}") from None
        raise ValueError(f"{what} must be a preset name ({', '.join(PRESETS)}) or a mapping, got {spec!r}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator, mean: Optional[torch.Tensor] = None,
                 std: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Augment a batch; see :func:`augment`."""
        return augment(x, self, generator, mean, std)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device)


def random_boxes(n: int, generator: torch.Generator, scale: Tuple[float, float] = (0.08, 1.0),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """(n, 4) float64 crop boxes: half-width, half-height, centre x, centre y in ``affine_grid``'s
    [-1, 1] coordinates (half-width 1 = the full width)."""
    area = _uniform(n, scale[0], scale[1], generator)
    aspect = torch.exp(_uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator))
    half_w = torch.sqrt(area * aspect).clamp(max=1.0)
    half_h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (2 * torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device) - 1) * (1 - half_w)
    cy = (2 * torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device) - 1) * (1 - half_h)
    return torch.stack([half_w, half_h, cx, cy], dim=1)


def crop_and_flip(x: torch.Tensor, boxes: Optional[torch.Tensor], flip: torch.Tensor) -> torch.Tensor:
    """Resample each image's box (None: the whole image) to the full size, mirrored where ``flip``.

    Args:
        x: (B, C, H, W) float images.
        boxes: (B, 4) from :func:`random_boxes`, or None.
        flip: (B,) bool.
    """
    b = len(x)
    if boxes is None:
        boxes = torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64).expand(b, 4)
    boxes = boxes.to("cpu", torch.float64)
    sign = 1.0 - 2.0 * flip.to("cpu", torch.float64)
    theta = torch.zeros(b, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = boxes[:, 0] * sign
    theta[:, 0, 2] = boxes[:, 2]
    theta[:, 1, 1] = boxes[:, 1]
    theta[:, 1, 2] = boxes[:, 3]
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _factors(n: int, strength: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    f = _uniform(n, max(0.0, 1.0 - strength), 1.0 + strength, generator)
    return f.to(like.device, like.dtype).view(-1, 1, 1, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_GREY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def color_jitter(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation jitter of (B, C, H, W) images in [0, 1] (C = 1 or 3)."""
    n = len(x)
    if aug.brightness > 0:  # blend with black
        x = (x * _factors(n, aug.brightness, generator, x)).clamp(0, 1)
    if aug.contrast > 0:  # blend with the image's mean grey level
        f = _factors(n, aug.contrast, generator, x)
        x = (f * x + (1 - f) * _grey(x).mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)
    if aug.saturation > 0:  # blend with the grey image
        f = _factors(n, aug.saturation, generator, x)
        if x.shape[1] == 3:
            x = (f * x + (1 - f) * _grey(x)).clamp(0, 1)
    return x


def augment(x: torch.Tensor, aug: Union[Augment, str, Mapping[str, Any], None], generator: torch.Generator,
            mean: Optional[torch.Tensor] = None, std: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Augment a batch of images on its device.

    Args:
        x: (B, C, H, W) float images, in [0, 1], or normalised ``(x01 - mean) / std`` when
            ``mean`` and ``std`` are given (colour jitter then works on the [0, 1] values;
            crop and flip commute with the per-channel normalisation).
        aug: an :class:`Augment`, a preset name or a mapping (see :meth:`Augment.parse`).
        generator: draws every random number (on its own device; CPU is fine for CUDA data).
        mean, std: broadcastable to (1, C, 1, 1), e.g. ``Normalizer.mean`` / ``.std``.

    Returns:
        (B, C, H, W), the input itself when ``aug`` does nothing.
    """
    aug = Augment.parse(aug)
    if not aug.enabled or len(x) == 0:
        return x
    if (mean is None) != (std is None):
        raise ValueError("augment needs both mean and std (normalised input) or neither ([0, 1] input)")
    flip = None
    if aug.flip > 0:
        flip = torch.rand(len(x), generator=generator, device=generator.device) < aug.flip
    if aug.crop:
        boxes = random_boxes(len(x), generator, aug.scale, aug.ratio)
        x = crop_and_flip(x, boxes, flip if flip is not None else torch.zeros(len(x), dtype=torch.bool))
    elif flip is not None:
        x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)
    if aug.jitter:
        if mean is not None:
            x = color_jitter(x * std + mean, aug, generator)
            x = (x - mean) / std
        else:
            x = color_jitter(x, aug, generator)
    return x


__all__ = ["Augment", "PRESETS", "augment", "color_jitter", "crop_and_flip", "random_boxes"]

"""Input-level mixing of paired tasks: mixup and CutMix, one lambda per task.

Convention everywhere: ``lam`` is the weight of the *anchor* ``a``; the mixed input is
``lam * a + (1 - lam) * b`` for mixup, and for CutMix a box covering a fraction ``1 - lam``
of the image is pasted from ``b`` (Yun et al. 2019). Both return the *effective* lambda,
the anchor's actual share, which for CutMix differs from the drawn one when the box is
clipped at the border or rounded to whole pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

import numpy as np
import torch

Lam = Union[float, np.ndarray, torch.Tensor]


def _per_task(lam: Lam, n_tasks: int, device) -> torch.Tensor:
    lam_t = torch.as_tensor(np.asarray(lam, dtype=np.float64) if not torch.is_tensor(lam) else lam,
                            dtype=torch.float64, device=device).flatten()
    if lam_t.numel() == 1:
        lam_t = lam_t.expand(n_tasks)
    if lam_t.numel() != n_tasks:
        raise ValueError(f"lambda must be one number or one per task ({n_tasks}), got {lam_t.numel()}")
    if bool(((lam_t < 0) | (lam_t > 1)).any()):
        raise ValueError(f"lambda must lie in [0, 1], got {lam_t.tolist()}")
    return lam_t


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"mixed tensors must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() < 2:
        raise ValueError(f"expected (B, n, ...) task batches, got shape {tuple(a.shape)}")


@dataclass(frozen=True)
class Mixup:
    """``lam * a + (1 - lam) * b`` per task (Zhang et al. 2018; MLTI at hidden layers)."""

    def __call__(self, a: torch.Tensor, b: torch.Tensor, lam: Lam,
                 rng: np.random.Generator = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """a, b: (B, n, ...); lam: scalar or (B,) -> (mixed (B, n, ...), lam (B,) float64)."""
        _check_pair(a, b)
        lam_t = _per_task(lam, a.shape[0], a.device)
        w = lam_t.to(a.dtype).view(-1, *([1] * (a.dim() - 1)))
        return w * a + (1 - w) * b, lam_t


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> Tuple[int, int, int, int]:
    """A box of side ``sqrt(1 - lam)`` times the image's, centred uniformly, clipped.

    Returns:
        ``(top, bottom, left, right)`` pixel bounds (bottom/right exclusive); the box covers
        about ``(1 - lam) * height * width`` pixels before clipping.
    """
    cut = np.sqrt(1.0 - float(lam))
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h - cut_h // 2, 0, height)
    left, right = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w - cut_w // 2, 0, width)
    return int(top), int(bottom), int(left), int(right)


@dataclass(frozen=True)
class CutMix:
    """Paste a box from ``b`` into ``a`` (MLTI's released code for images).

    As in their code, one box is drawn per tensor and task: every sample of a task's support
    (or query) shares the box, so the box's position carries no class information. Their
    box side is ``W * sqrt(1 - lam)`` rounded down, centred uniformly and clipped; here the
    side is split evenly around the centre so that an unclipped box has exactly that side.
    """

    def __call__(self, a: torch.Tensor, b: torch.Tensor, lam: Lam,
                 rng: np.random.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        """a, b: (B, n, ..., H, W); lam: scalar or (B,).

        Returns:
            ``(mixed, lam_eff)``: mixed (B, n, ..., H, W); lam_eff (B,) float64, the fraction
            of each image that comes from ``a`` (1 - box area / (H * W)).
        """
        _check_pair(a, b)
        if a.dim() < 4:
            raise ValueError(f"CutMix needs spatial inputs (B, n, ..., H, W), got shape {tuple(a.shape)}")
        lam_t = _per_task(lam, a.shape[0], a.device)
        h, w = a.shape[-2:]
        mask = torch.zeros(a.shape[0], h, w, dtype=torch.bool, device=a.device)
        eff = torch.empty_like(lam_t)
        for t in range(a.shape[0]):
            top, bottom, left, right = cutmix_box(h, w, float(lam_t[t]), rng)
            mask[t, top:bottom, left:right] = True
            eff[t] = 1.0 - (bottom - top) * (right - left) / (h * w)
        mask = mask.view(a.shape[0], *([1] * (a.dim() - 3)), h, w)
        return torch.where(mask, b, a), eff


MIXERS = {"mixup": Mixup, "cutmix": CutMix}


def create_mixer(name: str):
    """``"mixup"`` or ``"cutmix"`` -> the mixer."""
    if name not in MIXERS:
        raise ValueError(f"unknown mixing {name!r}; choose one of {sorted(MIXERS)}")
    return MIXERS[name]()

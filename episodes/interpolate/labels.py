"""Labels of an interpolated task.

* Non-label-sharing setting (classification episodes, labels local to each task): after
  :func:`~episodes.interpolate.align_classes` the partner's class at every position is the
  anchor's, so the mixed class keeps the anchor's label c (hard) and the soft label is
  one-hot(c) as well.
* Label-sharing setting (one label space for all tasks): labels mix like the inputs, soft
  ``lam * onehot(y_a) + (1 - lam) * onehot(y_b)``, or hard: the label with the larger weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .mixing import Lam, _per_task


def soft_labels(y_a: torch.Tensor, y_b: torch.Tensor, lam: Lam, n_classes: int) -> torch.Tensor:
    """``lam * onehot(y_a) + (1 - lam) * onehot(y_b)``.

    Args:
        y_a, y_b: (B, n) int64 labels in 0..n_classes-1.
        lam: scalar or (B,) weight of ``y_a`` (the effective lambda of the inputs).
        n_classes: size of the label space.

    Returns:
        (B, n, n_classes) float32; every row sums to 1.
    """
    if y_a.shape != y_b.shape or y_a.dim() != 2:
        raise ValueError(f"labels must both be (B, n), got {tuple(y_a.shape)} and {tuple(y_b.shape)}")
    lam_t = _per_task(lam, y_a.shape[0], y_a.device).float().view(-1, 1, 1)
    one_a = torch.nn.functional.one_hot(y_a, n_classes).float()
    one_b = torch.nn.functional.one_hot(y_b, n_classes).float()
    return lam_t * one_a + (1 - lam_t) * one_b


def hard_labels(y_a: torch.Tensor, y_b: torch.Tensor, lam: Lam) -> torch.Tensor:
    """The label with the larger weight: ``y_a`` where lam >= 1/2, else ``y_b``. (B, n) int64."""
    if y_a.shape != y_b.shape or y_a.dim() != 2:
        raise ValueError(f"labels must both be (B, n), got {tuple(y_a.shape)} and {tuple(y_b.shape)}")
    lam_t = _per_task(lam, y_a.shape[0], y_a.device).view(-1, 1)
    return torch.where(lam_t >= 0.5, y_a, y_b)


@dataclass(frozen=True)
class MixLabels:
    """Labels of mixed tasks for either setting.

    Args:
        label_sharing: True when all tasks share one label space (no class permutation;
            labels are mixed); False for episodes with task-local labels (MLTI's
            non-label-sharing setting: the anchor's labels are kept).
        soft: return (B, n, n_classes) soft labels instead of (B, n) class indices.
    """

    label_sharing: bool = False
    soft: bool = False

    def __call__(self, y_a: torch.Tensor, y_b: torch.Tensor, lam: Lam, n_classes: int) -> torch.Tensor:
        """y_a: anchor labels (B, n); y_b: the aligned partner's labels (B, n)."""
        if not self.label_sharing:
            if not torch.equal(y_a, y_b):
                raise ValueError("non-label-sharing mixing needs the partner aligned to the "
                                 "anchor's classes (align_classes) so that labels agree")
            y_b = y_a
        if self.soft:
            return soft_labels(y_a, y_b, lam, n_classes)
        return hard_labels(y_a, y_b, lam)

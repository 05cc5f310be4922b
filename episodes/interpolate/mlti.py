"""MLTI's task-level recipe, composed from the small callables of this package.

Meta-learning with task interpolation (Yao et al., ICLR 2022, https://arxiv.org/abs/2106.02695):
pair every task of a meta-batch with a partner (:class:`PairTasks`), align the partner's
classes to the anchor's by a random permutation (:class:`AlignClasses`), draw lambda
(:class:`BetaLambda`), mix the inputs (:class:`Mixup` / :class:`CutMix`) and label the result
(:class:`MixLabels`). :meth:`MLTIMixer.pair` stops before mixing, for mixing at a hidden layer
of a network (done in ``fewshot.interpolation``, since ``episodes`` knows no networks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import torch

from .align import AlignClasses, align_classes
from .batch import TaskBatch
from .labels import MixLabels
from .lam import BetaLambda
from .mixing import CutMix
from .pairing import PairTasks


class PairedTasks(NamedTuple):
    """Anchors and their aligned partners, ready to be mixed at any layer.

    Attributes:
        anchor: the meta-batch as given (B tasks).
        partner: task ``partners[i]`` with its classes permuted by ``perms[i]``, so that
            position n of ``partner`` holds a sample of the class anchor position n has.
        partners: (B,) int64 index of each task's partner.
        perms: (B, n_way) class permutations applied to the partners.
        lam: (B,) float64 drawn lambda of each pair (the anchor's weight).
    """

    anchor: TaskBatch
    partner: TaskBatch
    partners: np.ndarray
    perms: torch.Tensor
    lam: np.ndarray


class MixedTasks(NamedTuple):
    """Input-level interpolated tasks.

    Attributes:
        batch: the B mixed tasks; labels are (B, n) int64 or (B, n, n_way) soft.
        lam_support, lam_query: (B,) effective lambda of the support and query mixing.
        paired: how they were paired (:class:`PairedTasks`).
    """

    batch: TaskBatch
    lam_support: torch.Tensor
    lam_query: torch.Tensor
    paired: PairedTasks


def n_way_of(batch: TaskBatch) -> int:
    """Classes per task, from the (B, n) integer support labels."""
    if batch.support_labels.dim() != 2 or batch.support_labels.dtype.is_floating_point:
        raise ValueError("tasks to interpolate need (B, n) integer labels, got "
                         f"{batch.support_labels.dtype} {tuple(batch.support_labels.shape)}")
    return int(batch.support_labels.max()) + 1


@dataclass(frozen=True)
class MLTIMixer:
    """Pair, align and mix a meta-batch of tasks.

    Defaults follow MLTI's released image code: partner (i + 1) mod B with probability 1/2
    else itself, lambda ~ Beta(2, 2), CutMix, hard labels of the anchor.

    Args:
        pairing: chooses partners.
        align: class permutations (``AlignClasses(permute=False)`` for label sharing).
        lam: draws one lambda per pair.
        mixer: ``(a, b, lam, rng) -> (mixed, lam_eff)``, e.g. ``Mixup()`` or ``CutMix()``.
        labels: labels of the mixed tasks.
    """

    pairing: PairTasks = field(default_factory=lambda: PairTasks("released"))
    align: AlignClasses = field(default_factory=AlignClasses)
    lam: Callable = field(default_factory=lambda: BetaLambda(2.0))
    mixer: Callable = field(default_factory=CutMix)
    labels: MixLabels = field(default_factory=MixLabels)

    def pair(self, batch: TaskBatch, rng: np.random.Generator) -> PairedTasks:
        """Partners, permutations and lambdas for ``batch``; nothing is mixed yet."""
        n_way = n_way_of(batch)
        partners = self.pairing(rng, batch.n_tasks)
        perms = self.align(rng, batch.n_tasks, n_way)
        other = batch.select(torch.from_numpy(partners).to(batch.support.device))
        xs, ys = align_classes(other.support, other.support_labels, perms)
        xq, yq = align_classes(other.query, other.query_labels, perms)
        lam = np.asarray(self.lam(rng, batch.n_tasks), dtype=np.float64)
        return PairedTasks(batch, TaskBatch(xs, ys, xq, yq), partners, perms, lam)

    def mix(self, paired: PairedTasks, rng: np.random.Generator) -> MixedTasks:
        """Mix paired tasks at the input: support with support, query with query."""
        a, b = paired.anchor, paired.partner
        n_way = n_way_of(a)
        xs, lam_s = self.mixer(a.support, b.support, paired.lam, rng)
        xq, lam_q = self.mixer(a.query, b.query, paired.lam, rng)
        ys = self.labels(a.support_labels, b.support_labels, lam_s, n_way)
        yq = self.labels(a.query_labels, b.query_labels, lam_q, n_way)
        return MixedTasks(TaskBatch(xs, ys, xq, yq), lam_s, lam_q, paired)

    def __call__(self, batch: TaskBatch, rng: np.random.Generator) -> MixedTasks:
        """Input-level MLTI: :meth:`pair` then :meth:`mix`."""
        return self.mix(self.pair(batch, rng), rng)

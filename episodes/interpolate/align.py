"""Class alignment for the non-label-sharing setting: class c of task i meets class pi(c) of j.

Episode labels are local (0..n_way-1), so "class 2" of two tasks has nothing in common. MLTI
pairs class c of the anchor task with class pi(c) of the partner, pi a random permutation,
and the mixed class keeps the anchor's label c. :func:`align_classes` reorders the partner's
samples so that sample n of the anchor meets a sample of the matching class at position n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_int


def align_classes(x: torch.Tensor, labels: torch.Tensor, perm: torch.Tensor):
    """Reorder a batch of tasks so that new class c holds the samples of old class perm[c].

    Args:
        x: (B, n, *sample_shape) inputs of B tasks (or (n, ...) for one task).
        labels: (B, n) int64 labels 0..n_way-1 (or (n,)).
        perm: (B, n_way) int64 permutations (or (n_way,)); ``perm[b, c]`` is the old class that
            becomes class c of task b.

    Returns:
        ``(x_aligned, labels_aligned)``, same shapes: within each task, the samples of old
        class ``perm[c]`` (in their original order) now sit where class c's samples were, and
        carry label c. Class-major layouts stay class-major.

    Raises:
        ValueError: shapes disagree, a row of ``perm`` is not a permutation, or a class and
            its image under ``perm`` have different sample counts (samples could not be
            paired one to one).
    """
    single = labels.dim() == 1
    if single:
        x, labels, perm = x.unsqueeze(0), labels.unsqueeze(0), perm.unsqueeze(0)
    if labels.dim() != 2 or x.shape[:2] != labels.shape or perm.dim() != 2 or perm.shape[0] != labels.shape[0]:
        raise ValueError(f"align_classes expects x (B, n, ...), labels (B, n), perm (B, n_way); "
                         f"got {tuple(x.shape)}, {tuple(labels.shape)}, {tuple(perm.shape)}")
    n_way = perm.shape[1]
    perm = perm.to(labels.device)
    if not torch.equal(perm.sort(dim=1).values, torch.arange(n_way, device=perm.device).expand_as(perm)):
        raise ValueError(f"every row of perm must be a permutation of 0..{n_way - 1}, got {perm.tolist()}")
    # new label of each sample: the c with perm[c] == old label (inverse permutation).
    inverse = torch.argsort(perm, dim=1)
    new_labels = torch.gather(inverse, 1, labels)
    counts_old = torch.nn.functional.one_hot(labels, n_way).sum(1)  # (B, n_way)
    if not torch.equal(torch.gather(counts_old, 1, perm), counts_old):
        raise ValueError("cannot align classes with different sample counts one to one "
                         f"(class counts per task: {counts_old.tolist()}); use episodes with "
                         "the same shots for every class")
    # Stable sort by (new label, original position) puts class c's samples where class c was
    # (given class-major layouts) and keeps the within-class order.
    order = torch.sort(new_labels, dim=1, stable=True).indices
    target = torch.sort(labels, dim=1, stable=True).indices  # where each class's slots are
    index = torch.empty_like(order)
    index.scatter_(1, target, order)
    out_x = x[torch.arange(x.shape[0], device=x.device).unsqueeze(1), index.to(x.device)]
    out_labels = torch.gather(new_labels, 1, index)
    if single:
        return out_x[0], out_labels[0]
    return out_x, out_labels


@dataclass(frozen=True)
class AlignClasses:
    """Draw one random class permutation per task.

    Args:
        permute: False for the label-sharing setting (classes already mean the same thing
            in every task): the identity is returned.
    """

    permute: bool = True

    def __call__(self, rng: np.random.Generator, n_tasks: int, n_way: int) -> torch.Tensor:
        """(n_tasks, n_way) int64 permutations (identity rows when ``permute`` is False)."""
        b, n = check_int("n_tasks", n_tasks, 1), check_int("n_way", n_way, 1)
        if not self.permute:
            return torch.arange(n).repeat(b, 1)
        return torch.from_numpy(np.stack([rng.permutation(n) for _ in range(b)]).astype(np.int64))

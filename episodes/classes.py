"""Which samples belong to which class: labels in, per-class index arrays out.

Built once in the sampler's ``__init__`` (O(number of samples) integers), so that drawing an
episode only slices precomputed arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np

from ._checks import preview
from .labels import labels_of


def concat_domains(label_sets: Sequence[Any]) -> Tuple[np.ndarray, np.ndarray]:
    """Labels and domain ids of ``torch.utils.data.ConcatDataset(datasets)``.

    Args:
        label_sets: one label source per domain (anything :func:`labels_of` reads), in the
            order the data sets are concatenated.

    Returns:
        ``(labels, domains)``, two (total_samples,) arrays; ``domains[i]`` is the position in
        ``label_sets`` of the data set sample ``i`` comes from. Pass both to the sampler.
    """
    if len(label_sets) == 0:
        raise ValueError("concat_domains needs at least one label set")
    parts = [labels_of(labels) for labels in label_sets]
    domains = np.concatenate([np.full(len(p), d, dtype=np.int64) for d, p in enumerate(parts)])
    return np.concatenate(parts), domains


def _show(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True, eq=False)
class ClassIndex:
    """Samples grouped by class. Class ``c`` (a position 0..C-1) owns the sample indices
    ``members[offsets[c]:offsets[c + 1]]``, in ascending order.

    Attributes:
        labels: (C,) the original label of each class.
        sizes: (C,) number of samples of each class.
        members: (sum(sizes),) sample indices, class after class.
        offsets: (C + 1,) where each class starts in ``members``.
        domains: (C,) domain id of each class, or None.
        parents: (C,) super-category of each class (a position into ``parent_names``), or None.
        parent_names: the distinct parent values, or None.
        n_samples: length of the label sequence the index was built from.
    """

    labels: np.ndarray
    sizes: np.ndarray
    members: np.ndarray
    offsets: np.ndarray
    domains: Optional[np.ndarray]
    parents: Optional[np.ndarray]
    parent_names: Optional[np.ndarray]
    n_samples: int

    @property
    def n_classes(self) -> int:
        return len(self.sizes)

    def of(self, c: int) -> np.ndarray:
        """(sizes[c],) sample indices of class position ``c`` (a view, do not modify)."""
        return self.members[self.offsets[c]:self.offsets[c + 1]]

    def name(self, c: int) -> str:
        """Readable name of class position ``c`` for messages."""
        if self.domains is None:
            return f"class {_show(self.labels[c])!r}"
        return f"class {_show(self.labels[c])!r} of domain {int(self.domains[c])}"

    def subset(self, keep: np.ndarray) -> "ClassIndex":
        """A new index holding only the classes where the (C,) bool mask ``keep`` is True."""
        kept = np.flatnonzero(keep)
        members = [self.of(c) for c in kept]
        return replace(
            self,
            labels=self.labels[kept],
            sizes=self.sizes[kept],
            members=np.concatenate(members) if members else np.zeros(0, np.int64),
            offsets=np.concatenate([[0], np.cumsum(self.sizes[kept])]).astype(np.int64),
            domains=None if self.domains is None else self.domains[kept],
            parents=None if self.parents is None else self.parents[kept],
        )

    @classmethod
    def build(cls, labels: Any, domains: Any = None, parents: Any = None) -> "ClassIndex":
        """Group samples by class.

        Args:
            labels: what :func:`labels_of` reads, one label per sample.
            domains: optional (n_samples,) non-negative integer domain id per sample. A class
                is then a (domain, label) pair, so domains may reuse the same label values.
            parents: optional super-category of every class: either an (n_samples,) sequence
                (e.g. tieredImageNet's ``label_general``) or a mapping from label (from a
                ``(domain, label)`` tuple when ``domains`` is given) to parent.
        """
        y = labels_of(labels)
        n = len(y)
        try:
            label_values, label_inv = np.unique(y, return_inverse=True)
        except TypeError as err:
            raise ValueError(f"labels cannot be sorted ({err}); use ints or strings") from err
        label_inv = label_inv.reshape(-1)
        class_domains = None
        if domains is None:
            class_labels, class_inv = label_values, label_inv
        else:
            d = labels_of(domains)
            if len(d) != n or d.dtype.kind not in "iu" or d.min() < 0:
                raise ValueError("domains must hold one non-negative integer per sample "
                                 f"({n} samples), got {len(d)} values of type {d.dtype}")
            keys, class_inv = np.unique(d.astype(np.int64) * len(label_values) + label_inv,
                                        return_inverse=True)
            class_labels = label_values[keys % len(label_values)]
            class_domains = keys // len(label_values)
            class_inv = class_inv.reshape(-1)
        order = np.argsort(class_inv, kind="stable").astype(np.int64)
        sizes = np.bincount(class_inv, minlength=len(class_labels)).astype(np.int64)
        index = cls(labels=class_labels, sizes=sizes, members=order,
                    offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                    domains=class_domains, parents=None, parent_names=None, n_samples=n)
        if parents is None:
            return index
        names, class_parents = _class_parents(index, parents, n)
        return replace(index, parents=class_parents, parent_names=names)


def _class_parents(index: ClassIndex, parents: Any, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Parent position of every class, from a per-sample sequence or a class -> parent map."""
    if isinstance(parents, Mapping):
        if index.domains is None:
            keys = [_show(label) for label in index.labels]
        else:
            keys = [(int(dom), _show(label)) for dom, label in zip(index.domains, index.labels)]
        missing = [k for k in keys if k not in parents]
        if missing:
            raise ValueError(f"parents has no entry for {len(missing)} classes: "
                             f"{preview(missing)}")
        values = np.asarray([parents[k] for k in keys])
        names, class_parents = np.unique(values, return_inverse=True)
        return names, class_parents.reshape(-1).astype(np.int64)
    per_sample = labels_of(parents)
    if len(per_sample) != n:
        raise ValueError(f"parents must be a mapping class -> parent or hold one value per "
                         f"sample ({n}), got {len(per_sample)} values")
    names, inv = np.unique(per_sample, return_inverse=True)
    grouped = inv.reshape(-1)[index.members]
    starts = index.offsets[:-1]
    low, high = np.minimum.reduceat(grouped, starts), np.maximum.reduceat(grouped, starts)
    mixed = np.flatnonzero(low != high)
    if len(mixed):
        raise ValueError("every class must have one parent, but these have several: "
                         f"{preview(index.name(c) for c in mixed)}")
    return names, low.astype(np.int64)

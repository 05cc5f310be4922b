"""Collate a DataLoader batch of episode samples into ``(support, support_labels, query,
query_labels)``."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import default_collate

from ._checks import check_int


def _split_item(item: Any, label_key: str) -> Tuple[Any, Any]:
    """(input, target) of a data set item; an item that is not a pair has no target.

    A dict item's input is the dict without ``label_key``, its target ``item[label_key]``.
    """
    if isinstance(item, Mapping):
        inputs = {key: value for key, value in item.items() if key != label_key}
        if not inputs:
            raise ValueError(f"a dict item holds only the label key {label_key!r}: nothing to "
                             "collate as input")
        return inputs, item.get(label_key)
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], item[1]
    return item, None


def _scalar(target: Any) -> Any:
    if isinstance(target, torch.Tensor):
        return target.item()
    return target.item() if isinstance(target, np.generic) else target


class EpisodeCollate:
    """``collate_fn`` for a DataLoader whose ``batch_sampler`` is an episode sampler.

    With ``n_way``, ``k_shot`` and ``n_query`` the layout is known: the batch holds
    ``n_way * k_shot`` support samples then ``n_way * n_query`` query samples, each class-major,
    and the data set's targets are not read (items may be inputs alone).

    Without them (episodes whose shape varies) the layout is read from the data set's targets
    (items must be ``(input, target)``): the support is one run of equal targets per class,
    then the query repeats the runs in the same class order. This needs the targets of the
    classes in an episode to differ (give multi-domain data global labels) and 2 or more ways.

    Dict items (e.g. a Hugging Face data set's ``{"image": ..., "label": ...}``) are collated
    key by key; the target is ``item[label_key]``, which is left out of ``support`` and
    ``query`` (they become dicts of the other keys; use the episode-local labels instead).

    Args:
        n_way, k_shot, n_query: the fixed layout, or all None to read it from the targets.
        label_key: where a dict item holds its label.

    Returns:
        support: (n_support_total, *input_shape), as ``default_collate`` stacks the inputs
            (for dict items, a dict of such values).
        support_labels: (n_support_total,) int64 episode-local labels 0..n_way-1.
        query: (n_query_total, *input_shape).
        query_labels: (n_query_total,) int64.
    """

    def __init__(self, n_way: Optional[int] = None, k_shot: Optional[int] = None,
                 n_query: Optional[int] = None, *, label_key: str = "label") -> None:
        given = [v is not None for v in (n_way, k_shot, n_query)]
        if any(given) and not all(given):
            raise ValueError("give all of n_way, k_shot, n_query (fixed episodes) or none "
                             "(layout read from the targets)")
        self.n_way = None if n_way is None else check_int("n_way", n_way, 1)
        self.k_shot = None if k_shot is None else check_int("k_shot", k_shot, 1)
        self.n_query = None if n_query is None else check_int("n_query", n_query, 1)
        self.label_key = label_key

    @classmethod
    def from_sampler(cls, sampler: Any, *, label_key: str = "label") -> "EpisodeCollate":
        """The collate matching a sampler: fixed layout when its episodes have one shape."""
        shape = sampler.fixed_shape
        return cls(label_key=label_key) if shape is None else cls(*shape, label_key=label_key)

    def __repr__(self) -> str:
        return (f"EpisodeCollate(n_way={self.n_way}, k_shot={self.k_shot}, "
                f"n_query={self.n_query})")

    def __call__(self, batch: Sequence[Any]):
        inputs, targets = zip(*(_split_item(item, self.label_key) for item in batch))
        if self.n_way is not None:
            n_support = self.n_way * self.k_shot
            expected = n_support + self.n_way * self.n_query
            if len(batch) != expected:
                raise ValueError(f"{self!r} expects {expected} samples per episode, got "
                                 f"{len(batch)}: is the sampler's layout the same?")
            ways = torch.arange(self.n_way)
            support_labels = ways.repeat_interleave(self.k_shot)
            query_labels = ways.repeat_interleave(self.n_query)
        else:
            if any(t is None for t in targets):
                raise ValueError("EpisodeCollate() without a layout reads the targets: items "
                                 f"must be (input, target) pairs or dicts with a {self.label_key!r} "
                                 "key (see label_key), or give n_way/k_shot/n_query")
            n_support, labels = infer_layout([_scalar(t) for t in targets])
            support_labels, query_labels = labels[:n_support], labels[n_support:]
        # Support and query collated apart: right for any structure default_collate builds
        # (tensors, dicts, lists), where slicing one collated batch is not.
        support = default_collate(list(inputs[:n_support]))
        query = default_collate(list(inputs[n_support:]))
        return support, support_labels, query, query_labels


def infer_layout(targets: List[Any]) -> Tuple[int, torch.Tensor]:
    """Support size and episode-local labels of one episode from its samples' targets.

    Args:
        targets: one target per sample, in yielded order.

    Returns:
        ``(n_support_total, labels)``, labels an (len(targets),) int64 tensor.
    """
    starts = [0] + [i for i in range(1, len(targets)) if targets[i] != targets[i - 1]]
    runs = [targets[s] for s in starts]
    n_way = len(runs) // 2
    if (len(runs) % 2 or n_way < 2 or runs[:n_way] != runs[n_way:]
            or len(set(runs[:n_way])) != n_way):
        raise ValueError(
            "cannot tell support from query: the targets do not form one run per class for "
            "the support then the same runs for the query. This happens with 1-way episodes, "
            "when two classes of an episode share a target (e.g. data sets concatenated with "
            "overlapping label ids) or with a sampler of another layout; use a fixed layout, "
            "global labels, or TensorEpisodes")
    bounds = starts + [len(targets)]
    labels = torch.empty(len(targets), dtype=torch.int64)
    for run in range(len(runs)):
        labels[bounds[run]:bounds[run + 1]] = run % n_way
    return bounds[n_way], labels

"""Reading the label of every sample from whatever holds them: a sequence, a data set's
attribute, another library's data set object, or (when asked) the items themselves."""

from __future__ import annotations

from typing import Any, List, Mapping

import numpy as np
import torch

from ._checks import preview


def labels_of(source: Any, *, scan: bool = False) -> np.ndarray:
    """Return the label of every sample as a 1-D numpy array.

    Args:
        source: one of
            - a sequence, numpy array or tensor of labels (ints or strings);
            - a data set with a ``targets`` or ``labels`` attribute holding one label per
              sample (torchvision's ImageFolder, CIFAR, MNIST, SVHN);
            - a learn2learn ``MetaDataset`` (read from its ``indices_to_labels``: its
              ``labels`` attribute is the list of distinct classes);
            - a Hugging Face ``datasets.Dataset`` (its ``label`` or ``labels`` column);
            - a ``torch.utils.data.Subset`` of any of these.
        scan: for a data set that exposes no labels (e.g. torchvision's ``FakeData``), read
            every item once and take its label: ``item[1]`` of a pair, ``item["label"]`` of a
            dict. This loads every sample, so it is opt-in.

    Returns:
        (n_samples,) array of labels.
    """
    if isinstance(source, torch.utils.data.Subset):
        return labels_of(source.dataset, scan=scan)[np.asarray(source.indices, dtype=np.int64)]
    if isinstance(source, torch.Tensor):
        labels = source.detach().cpu().numpy()
    elif isinstance(source, (np.ndarray, list, tuple, range)):
        labels = np.asarray(source)
    else:
        return _check_per_sample(source, labels_of(_labels_attribute(source, scan)))
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {labels.shape}")
    if labels.dtype.kind == "f":
        raise ValueError(f"labels must be integers or strings, got {labels.dtype} values; "
                         "cast them first, e.g. labels.astype(int)")
    return labels


def _labels_attribute(source: Any, scan: bool) -> Any:
    """The per-sample labels a data set object holds, as a sequence (see :func:`labels_of`)."""
    name = type(source).__name__
    mapping = getattr(source, "indices_to_labels", None)
    if isinstance(mapping, Mapping):  # learn2learn MetaDataset and its Filtered/Union kin
        return [mapping[i] for i in range(len(source))]
    columns = getattr(source, "column_names", None)
    if isinstance(columns, (list, tuple)):  # Hugging Face datasets.Dataset
        for column in ("label", "labels"):
            if column in columns:
                return list(source[column])
        raise ValueError(f"{name} has no 'label' or 'labels' column (columns: {preview(columns)}); "
                         "pass the labels column yourself, e.g. dataset['fine_label']")
    for attribute in ("targets", "labels"):
        if getattr(source, attribute, None) is not None:
            return getattr(source, attribute)
    if scan:
        return _scan(source)
    raise ValueError(
        f"cannot find labels in {name}: it has no `targets`, `labels`, `indices_to_labels` "
        "or 'label' column. Pass the label of every sample (a list, array or tensor) instead "
        "of the data set, e.g. labels_of(dataset, scan=True), which reads every item once "
        "(item[1] or item['label'])")


def _scan(source: Any) -> List[Any]:
    """Labels read from every item of a map-style data set, in one pass."""
    name = type(source).__name__
    try:
        n = len(source)
    except TypeError as err:
        raise ValueError(f"cannot scan {name} for labels: it has no len()") from err
    labels = []
    for i in range(n):
        item = source[i]
        if isinstance(item, Mapping) and "label" in item:
            label = item["label"]
        elif isinstance(item, (tuple, list)) and len(item) >= 2:
            label = item[1]
        else:
            raise ValueError(f"cannot scan {name} for labels: item {i} is a {type(item).__name__}, "
                             "not an (input, label) pair or a dict with a 'label' key")
        labels.append(label.item() if isinstance(label, (torch.Tensor, np.generic)) else label)
    return labels


def _check_per_sample(source: Any, labels: np.ndarray) -> np.ndarray:
    """Refuse labels whose count is not the data set's length (e.g. a list of distinct classes)."""
    try:
        n = len(source)
    except TypeError:
        return labels
    if len(labels) != n:
        raise ValueError(f"{type(source).__name__} holds {n} samples but its labels attribute has "
                         f"{len(labels)} values, so it is not one label per sample: pass the "
                         "label of every sample instead")
    return labels

"""The one container every data loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

import numpy as np


@dataclass
class ImageSplit:
    """One split of an image data set, ready for an episode sampler.

    Attributes:
        images: uint8 array (N, H, W) for grayscale or (N, H, W, C) for colour; may be a
            read-only ``np.memmap``, so copy before writing into it.
        labels: int64 array (N,), class ids 0..C-1 within this split.
        class_names: C names; ``class_names[labels[i]]`` names image i's class.
        name: a short id such as ``"glyphs/evaluation"``.
        meta: anything else a loader knows (per-class alphabet, source folder, ...).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: List[str]
    name: str
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim not in (3, 4):
            raise ValueError(f"ImageSplit {self.name!r}: images must be uint8 (N, H, W) or "
                             f"(N, H, W, C), got {self.images.dtype} {self.images.shape}")
        labels = np.asarray(self.labels)
        if labels.shape != (len(self.images),):
            raise ValueError(f"ImageSplit {self.name!r}: labels shape {labels.shape} does not "
                             f"match {len(self.images)} images")
        self.labels = labels.astype(np.int64, copy=False)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise ValueError(f"ImageSplit {self.name!r}: labels must lie in 0..{len(self.class_names) - 1}")

    @property
    def num_classes(self) -> int:
        """Number of classes C."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.images)

    def class_indices(self) -> List[np.ndarray]:
        """Image indices of each class, ``[indices of class 0, ..., class C-1]``."""
        order = np.argsort(self.labels, kind="stable")
        bounds = np.searchsorted(self.labels[order], np.arange(self.num_classes + 1))
        return [order[bounds[c]:bounds[c + 1]] for c in range(self.num_classes)]

    def __repr__(self) -> str:
        return (f"ImageSplit({self.name!r}, images={tuple(self.images.shape)}, "
                f"classes={self.num_classes})")


def match_channels(split: ImageSplit, channels: int) -> ImageSplit:
    """``split`` with ``channels`` channels, converted in memory when it has the other count.

    Grey -> RGB replicates; RGB -> grey uses PIL's integer ITU-R 601 luma, so the result equals
    what the cache would store with ``channels=1``. Used for loaders without a ``channels``
    option (glyphs, user loaders); built-in loaders convert while caching instead.
    """
    have = 1 if split.images.ndim == 3 else split.images.shape[-1]
    if have == channels:
        return split
    x = np.asarray(split.images)
    if channels == 3:
        y = np.repeat(x[..., None] if x.ndim == 3 else x, 3, axis=-1)
    elif have in (3, 4):
        rgb = x[..., :3].astype(np.uint32)
        y = ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16)
    else:
        raise ValueError(f"cannot convert {have}-channel images of {split.name} to {channels} channels")
    return ImageSplit(images=np.ascontiguousarray(y, dtype=np.uint8), labels=split.labels,
                      class_names=split.class_names, name=split.name,
                      meta={**split.meta, "channels_converted": f"{have}->{channels}"})

"""The pre-decoded cache every image loader serves from: decode once, memory-map forever.

A cache folder holds ``images.npy`` (N, S, S) or (N, S, S, 3) uint8, ``labels.npy`` (N,) int64 and
``manifest.json`` (source folder, layout, split, image size, channels, crop, class names, skipped
files). It is written under a temporary name and renamed when complete, so an interrupted build
never leaves a folder that looks valid. Opening uses ``mmap_mode="r"``: a miniImageNet-sized
split (38,400 x 84 x 84 x 3, about 0.8 GB) is paged in on demand, never read into memory whole.

Folders live in ``<cache root>/<dataset>/<split>-<S>px-<C>ch-<hash>``; the cache root is
``data.options.cache_dir`` or ``<default data dir>/cache``, and the hash covers everything that
changes the pixels (source folder, layout, size, channels, crop, loader options).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from .base import ImageSplit
from .errors import CorruptImageError
from .options import LoadOptions
from .paths import default_data_dir

FORMAT = "fewshot-cache-v1"


@dataclass
class CacheSpec:
    """Everything that identifies one cached split (and so names its folder)."""

    dataset: str
    split: str
    source: str  # resolved source folder or file
    layout: str
    image_size: int
    channels: int
    crop: str = "none"
    resample: str = "bilinear"
    extra: Dict[str, Any] = field(default_factory=dict)  # loader options that change content

    def digest(self) -> str:
        blob = json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:10]

    def folder(self, cache_root: Path) -> Path:
        tag = f"{self.split}-{self.image_size}px-{self.channels}ch-{self.digest()}"
        return cache_root / self.dataset / tag.replace("/", "_")


@dataclass
class Collected:
    """What a loader found on disk for one split, before decoding.

    Either ``items`` + ``decode`` (one source per image: a path, encoded bytes, ...; decoded in
    threads) or ``batches`` (a callable yielding uint8 arrays (B, H, W[, C]) in order, for
    sources that already are arrays: pickles, npz, idx files).
    """

    labels: np.ndarray  # (N,) int64 in 0..C-1
    class_names: List[str]
    items: Optional[Sequence[Any]] = None
    decode: Optional[Callable[[Any], Any]] = None
    describe: Callable[[Any], str] = str
    batches: Optional[Callable[[], Iterator[np.ndarray]]] = None
    meta: Dict[str, Any] = field(default_factory=dict)


def cache_root(options: LoadOptions) -> Path:

    return Path(options.cache_dir).expanduser() if options.cache_dir else default_data_dir() / "cache"


def read_manifest(folder: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def is_valid(folder: Path, spec: CacheSpec) -> bool:
    """A complete cache for exactly ``spec`` (manifest matches and array headers agree)."""
    m = read_manifest(folder)
    if not m or m.get("format") != FORMAT or m.get("key") != spec.digest():
        return False
    try:
        images = np.load(folder / "images.npy", mmap_mode="r")
        labels = np.load(folder / "labels.npy", mmap_mode="r")
    except (OSError, ValueError):
        return False
    return len(images) == len(labels) == m["count"] and images.dtype == np.uint8


def open_cache(folder: Path) -> ImageSplit:
    """Memory-map a cache folder as an :class:`ImageSplit` (images read-only, labels in memory)."""
    folder = Path(folder)
    m = read_manifest(folder)
    if m is None:
        raise FileNotFoundError(f"{str(folder)!r} is not a fewshot cache (no readable manifest.json)")
    images = np.load(folder / "images.npy", mmap_mode="r")
    labels = np.load(folder / "labels.npy")
    meta = dict(m.get("meta", {}))
    meta.update({k: m[k] for k in ("source", "layout", "split", "image_size", "channels", "crop",
                                   "n_skipped") if k in m})
    meta["cache"] = str(folder)
    return ImageSplit(images=images, labels=labels, class_names=list(m["class_names"]),
                      name=f"{m['dataset']}/{m['split']}", meta=meta)


def report_skipped(spec: CacheSpec, skipped: List[str]) -> None:
    if skipped:
        shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        warnings.warn(f"{spec.dataset}/{spec.split}: skipped {len(skipped)} image(s) that could not "
                      f"be decoded ({shown}); all are listed in the cache's manifest.json",
                      stacklevel=3)


__all__ = ["CacheSpec", "Collected", "CorruptImageError", "open_cache", "is_valid",
           "read_manifest", "cache_root", "FORMAT"]

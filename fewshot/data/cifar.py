"""CIFAR-FS (Bertinetto et al. 2019) and FC100 (Oreshkin et al. 2018): CIFAR-100 images, 32 x 32.

Both come as one pickle per split, as MetaOptNet and RFS distribute them:
``CIFAR_FS_{train,val,test}.pickle`` / ``FC100_{train,val,test}.pickle`` (``.pkl`` accepted), a dict
with ``data`` (N, 32, 32, 3) uint8 and ``labels`` (N,) CIFAR-100 fine-label ids. CIFAR-FS splits
the 100 classes 64 / 16 / 20 at random; FC100 by super-class, 60 / 20 / 20. Classes are numbered
in increasing CIFAR-100 id; ``class_names`` are ``"cifar100-<id>"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cache import CacheSpec, Collected
from .cache_write import cached_split
from .errors import check_split, first_existing, missing_data
from .options import parse_options
from .registry import register_dataset
from .safe_pickle import load_pickle
from .sources import resolve_root

SPLITS = ("train", "val", "test")
ALIASES = {"validation": "val", "valid": "val"}
WHERE = ("people usually get these pickles with the MetaOptNet or RFS code "
         "(CIFAR-FS.zip / FC100.zip archives).")


def collect_pickle(path: Path) -> Collected:
    """A ``{"data", "labels"}`` pickle -> Collected with labels 0..C-1 in increasing id order."""
    d = load_pickle(path)
    if not isinstance(d, dict) or not {"data", "labels"} <= set(d):
        raise ValueError(f"{str(path)!r} should be a dict with keys 'data' and 'labels', "
                         f"got {sorted(d) if isinstance(d, dict) else type(d).__name__}")
    data = np.asarray(d["data"])
    if data.ndim not in (3, 4) or not np.issubdtype(data.dtype, np.number):
        raise ValueError(f"{str(path)!r}: 'data' should hold images (N, H, W) or (N, H, W, 3) of numbers, got "
                         f"shape {data.shape} and dtype {data.dtype}")
    ids, labels = np.unique(np.asarray(d["labels"]).astype(np.int64), return_inverse=True)
    if len(data) != len(labels):
        raise ValueError(f"{path.name}: {len(data)} images but {len(labels)} labels")
    order = np.argsort(labels, kind="stable")  # class-contiguous storage: local episode reads

    def batches():
        for s in range(0, len(order), 2048):
            yield data[order[s:s + 2048]]

    return Collected(labels=labels[order], class_names=[f"cifar100-{i}" for i in ids],
                     batches=batches, meta={"cifar100_ids": ids.tolist()})


def _load(dataset: str, prefix: str, default_dir: str, split, root, image_size, options):
    opts, _ = parse_options(dataset, options)
    split = check_split(dataset, split, SPLITS, ALIASES)
    root = resolve_root(root, default_dir)
    names = [f"{prefix}_{split}.pickle", f"{prefix}_{split}.pkl"]
    path = first_existing(root, names)
    if path is None:
        raise missing_data(dataset, root, names[:1], WHERE)
    spec = CacheSpec(dataset, split, str(path), "pickle", image_size, opts.channels or 3,
                     opts.crop or "none", opts.resample)
    return cached_split(spec, lambda: collect_pickle(path), opts)


@register_dataset("cifar_fs", splits=("train", "val", "test"), test_split="test", cached=True)
def load_cifar_fs(split: str = "train", root=None, image_size: int = 32, seed: int = 0, **options):
    """One split of CIFAR-FS (default root ``<data dir>/CIFAR-FS``); images (N, S, S, 3) uint8."""
    return _load("cifar_fs", "CIFAR_FS", "CIFAR-FS", split, root, image_size, options)


@register_dataset("fc100", splits=("train", "val", "test"), test_split="test", cached=True)
def load_fc100(split: str = "train", root=None, image_size: int = 32, seed: int = 0, **options):
    """One split of FC100 (default root ``<data dir>/FC100``); images (N, S, S, 3) uint8."""
    return _load("fc100", "FC100", "FC100", split, root, image_size, options)

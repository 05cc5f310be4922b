"""Fashion-MNIST (Xiao et al. 2017) from its original idx files, gzipped or not.

Debian's ``dataset-fashion-mnist`` package installs them in ``/usr/share/datasets/fashion-mnist``
(``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz``); without a root they are looked for in ``<data dir>/fashion-mnist``
(``$FEWSHOT_DATA``, as every data set) first, then there. For few-shot use, split ``test`` (the
10,000 t10k images) treats all 10 classes as novel classes; ``train`` (60,000) and ``all`` (70,000)
are there too. Images are grey, light garments on black (as glyphs).

idx format: a big-endian header ``0x00 0x00 <type> <ndim>`` (type 0x08 = unsigned byte), then
``ndim`` big-endian uint32 sizes, then the data.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import List

import numpy as np

from .cache import CacheSpec, Collected
from .cache_write import cached_split
from .errors import check_split, missing_data
from .options import parse_options
from .paths import default_data_dir
from .registry import register_dataset

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
WHERE = ("on Debian/Ubuntu `apt-get install dataset-fashion-mnist` puts them in "
         f"{DEFAULT_ROOT}; otherwise the files come from the zalandoresearch/fashion-mnist repository.")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (``.gz`` or plain) as a uint8 array of its declared shape.

    Raises:
        ValueError: bad magic number, unsupported type, or a size that does not match the header.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (the first two bytes must be zero)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: idx data type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} ({int(np.prod(shape))} bytes) but the file "
                         f"holds {data.size}; is it truncated?")
    return data.reshape(shape)


def default_root() -> Path:
    """Where the idx files are when no root is given: ``<data dir>/fashion-mnist`` (``$FEWSHOT_DATA``
    or ``~/.cache/fewshot``, as for every data set; ``fashion_mnist`` and ``FashionMNIST`` too) when
    it holds them, else Debian's ``/usr/share/datasets/fashion-mnist``."""
    base = default_data_dir()
    for name in ("fashion-mnist", "fashion_mnist", "FashionMNIST"):
        folder = base / name
        if any((folder / f"{FILES['test'][0]}{ext}").is_file() or (folder / f"{FILES['train'][0]}{ext}").is_file()
               for ext in (".gz", "")):
            return folder
    if os.environ.get("FEWSHOT_DATA") and not (Path(DEFAULT_ROOT) / f"{FILES['test'][0]}.gz").is_file():
        return base / "fashion-mnist"  # what the missing-data message then names
    return Path(DEFAULT_ROOT)


def _find(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).is_file():
            return root / name
    raise missing_data("fashion_mnist", root, [f"{s}.gz" for pair in FILES.values() for s in pair], WHERE,
                       f"Without a root they are looked for in {default_data_dir() / 'fashion-mnist'} "
                       f"($FEWSHOT_DATA/fashion-mnist), then {DEFAULT_ROOT}; give another folder with "
                       "data.root or --data-root.")


@register_dataset("fashion_mnist", splits=("test",), test_split="test", cached=True)
def load_fashion_mnist(split: str = "test", root=None, image_size: int = 28, seed: int = 0, **options):
    """One split of Fashion-MNIST as a memory-mapped :class:`~fewshot.data.base.ImageSplit`.

    Args:
        split: ``test`` (10 novel classes, 10,000 images), ``train`` or ``all``.
        root: folder with the idx files (default: ``<data dir>/fashion-mnist`` when it holds
            them, ``$FEWSHOT_DATA`` or ``~/.cache/fewshot`` being the data dir, else
            ``/usr/share/datasets/fashion-mnist``).
        image_size: side S (28 native).
        **options: shared :class:`~fewshot.data.options.LoadOptions` (grey by default).

    Returns:
        ImageSplit, images (N, S, S) uint8, labels 0..9 in Fashion-MNIST's class order.
    """
    opts, _ = parse_options("fashion_mnist", options)
    split = check_split("fashion_mnist", split, ("train", "test", "all"),
                        {"novel": "test", "evaluation": "test"})
    root = Path(root).expanduser().resolve() if root else default_root()
    parts: List[str] = ["train", "test"] if split == "all" else [split]
    files = [(_find(root, FILES[p][0]), _find(root, FILES[p][1])) for p in parts]
    spec = CacheSpec("fashion_mnist", split, str(root), "idx", image_size, opts.channels or 1,
                     opts.crop or "none", opts.resample)

    def collect() -> Collected:
        images = [read_idx(i) for i, _ in files]
        labels = np.concatenate([read_idx(lab).astype(np.int64) for _, lab in files])
        if sum(len(i) for i in images) != len(labels) or any(i.ndim != 3 for i in images):
            raise ValueError(f"fashion_mnist/{split}: image and label files of {root} do not match")
        if labels.max() >= len(CLASSES):
            raise ValueError(f"fashion_mnist/{split}: label {labels.max()} out of range 0..9")
        order = np.argsort(labels, kind="stable")  # class-contiguous storage
        stacked = np.concatenate(images)

        def batches():
            for s in range(0, len(order), 4096):
                yield stacked[order[s:s + 4096]]

        return Collected(labels=labels[order], class_names=list(CLASSES), batches=batches,
                         meta={"files": [str(p) for pair in files for p in pair]})

    return cached_split(spec, collect, opts)

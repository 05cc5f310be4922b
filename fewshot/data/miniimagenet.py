"""miniImageNet, Ravi & Larochelle split (64 / 16 / 20 classes x 600 images), three layouts.

* ``images``: ``root/images/<filename>`` (or ``images/<wnid>/<filename>``) + ``train.csv`` / ``val.csv`` / ``test.csv``
  (header ``filename,label``; filename = 9-character wnid + 8-digit 1-based index + ``.jpg``).
* ``pickle`` (Ren et al.): ``mini-imagenet-cache-{train,val,test}.pkl``, a dict with ``image_data``
  (N, 84, 84, 3) uint8 and ``class_dict`` (wnid -> list of indices); ``validation`` is accepted
  for ``val``, as one library names it.
* ``imagenet``: raw ImageNet (``imagenet_dir/<wnid>/<wnid>_<n>.JPEG``) + the CSVs; a row's
  index ``int(stem[-5:]) - 1`` picks the n-th file of its class, sorted by ``n``.

Classes are numbered in sorted wnid order; images keep the CSV (or ``class_dict``) order.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .cache import CacheSpec, Collected
from .cache_write import cached_split
from .errors import check_split, missing_data
from .options import parse_options
from .registry import register_dataset
from .safe_pickle import load_pickle
from .sources import decode_file, resolve_root

SPLITS = ("train", "val", "test")
ALIASES = {"validation": "val", "valid": "val"}
WHERE = ("people usually get the Ravi & Larochelle CSVs with the images (e.g. the "
         "mini-imagenet-tools recipe or a course mirror) or Ren et al.'s mini-imagenet-cache pickles.")


def _pickle_path(root: Path, split: str) -> Optional[Path]:
    names = [f"mini-imagenet-cache-{split}.pkl"] + (["mini-imagenet-cache-validation.pkl"]
                                                     if split == "val" else [])
    return next((root / n for n in names if (root / n).is_file()), None)


def read_csv(path: Path) -> List[List[str]]:
    """Rows ``[filename, wnid]`` of a Ravi split CSV (header ``filename,label`` checked)."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0]] != ["filename", "label"]:
        raise ValueError(f"{str(path)!r} should start with the header 'filename,label', got {rows[:1]}")
    body = [r for r in rows[1:] if r]
    for number, r in enumerate(rows[1:], 2):
        if r and (len(r) != 2 or not r[0].strip() or not r[1].strip()):
            raise ValueError(f"{str(path)!r} line {number} should be 'filename,label', got {','.join(r)!r}")
    return body


def _labels(rows: List[List[str]]):
    names = sorted({r[1] for r in rows})
    index = {n: i for i, n in enumerate(names)}
    return np.asarray([index[r[1]] for r in rows], dtype=np.int64), names


def _collect_images(root: Path, rows, size: int) -> Collected:
    labels, names = _labels(rows)
    # images/<filename>, or images/<wnid>/<filename> as some repositories arrange them
    items = [root / "images" / r[0] for r in rows]
    items = [p if p.is_file() else p.parent / r[1] / p.name for p, r in zip(items, rows)]
    missing = [p for p in items if not p.is_file()]
    if missing:
        raise missing_data("miniimagenet", root, [f"images/{p.name}" for p in missing[:3]] +
                           ([f"... {len(missing)} of {len(items)} listed images missing"]
                            if len(missing) > 3 else []), WHERE)
    return Collected(labels=labels, class_names=names, items=items, decode=decode_file(size))


def _collect_imagenet(imagenet: Path, rows, size: int) -> Collected:
    labels, names = _labels(rows)
    per_class: Dict[str, List[Path]] = {}
    items = []
    for filename, wnid in rows:
        if wnid not in per_class:
            folder = imagenet / wnid
            if not folder.is_dir():
                raise missing_data("miniimagenet", imagenet, [f"{wnid}/{wnid}_<n>.JPEG"],
                                   "the raw files come from the ImageNet (ILSVRC-2012) train set.")
            files = [p for p in folder.iterdir() if p.stem.startswith(wnid + "_")]
            per_class[wnid] = sorted(files, key=lambda p: int(p.stem.split("_")[-1]))
        k = int(Path(filename).stem[-5:]) - 1
        if not 0 <= k < len(per_class[wnid]):
            raise ValueError(f"miniimagenet: {filename} asks for image {k + 1} of {wnid}, which has "
                             f"{len(per_class[wnid])} files in {imagenet / wnid}")
        items.append(per_class[wnid][k])
    return Collected(labels=labels, class_names=names, items=items, decode=decode_file(size))


def _collect_pickle(path: Path) -> Collected:
    data = load_pickle(path)
    if not isinstance(data, dict) or not {"image_data", "class_dict"} <= set(data):
        raise ValueError(f"{str(path)!r} should be a dict with keys 'image_data' and 'class_dict'")
    images, class_dict = np.asarray(data["image_data"]), data["class_dict"]
    if images.ndim not in (3, 4) or not np.issubdtype(images.dtype, np.number):
        raise ValueError(f"{str(path)!r}: 'image_data' should hold images (N, H, W, 3) of numbers, got shape "
                         f"{images.shape} and dtype {images.dtype}")
    if not isinstance(class_dict, dict) or not class_dict:
        raise ValueError(f"{str(path)!r}: 'class_dict' should map class names to lists of image indices")
    names = sorted(class_dict, key=str)
    indices = []
    for n in names:
        try:
            idx = np.asarray(class_dict[n])
        except ValueError:  # ragged nested lists
            idx = np.asarray([], dtype=object)
        if idx.ndim != 1 or not len(idx) or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"{str(path)!r}: class_dict[{n!r}] should be a non-empty list of integer image "
                             f"indices, got {str(class_dict[n])[:80]}")
        bad = idx[(idx < 0) | (idx >= len(images))]
        if len(bad):
            raise ValueError(f"{str(path)!r}: class_dict[{n!r}] has index {int(bad[0])} outside the "
                             f"{len(images)} images of 'image_data'")
        indices.append(idx.astype(np.int64))
    order = np.concatenate(indices)
    labels = np.repeat(np.arange(len(names)), [len(i) for i in indices])

    def batches():
        for s in range(0, len(order), 1024):
            yield images[order[s:s + 1024]]

    return Collected(labels=labels, class_names=names, batches=batches)


@register_dataset("miniimagenet", splits=("train", "val", "test"), test_split="test", cached=True)
def load_miniimagenet(split: str = "train", root=None, image_size: int = 84, seed: int = 0,
                      layout: str = "auto", csv_dir=None, imagenet_dir=None, **options):
    """One split of miniImageNet as a memory-mapped :class:`~fewshot.data.base.ImageSplit`.

    Args:
        split: ``train``, ``val`` (or ``validation``) or ``test``.
        root: folder with ``images/`` + CSVs, or with the pickles (default
            ``<data dir>/miniImageNet``).
        image_size: side S of the cached images (84 in the literature).
        layout: ``auto``, ``images``, ``pickle`` or ``imagenet``.
        csv_dir: where the split CSVs are, if not in ``root``.
        imagenet_dir: raw ImageNet train folder (``<wnid>/`` sub-folders) for ``layout=imagenet``.
        **options: shared :class:`~fewshot.data.options.LoadOptions`.

    Returns:
        ImageSplit with images (N, S, S, 3) uint8 (grey (N, S, S) with ``channels=1``).
    """
    opts, _ = parse_options("miniimagenet", options)
    split = check_split("miniimagenet", split, SPLITS, ALIASES)
    root = resolve_root(root, "miniImageNet")
    csv_path = Path(csv_dir or root).expanduser() / f"{split}.csv"
    pkl = _pickle_path(root, split)
    if layout == "auto":
        layout = ("images" if (root / "images").is_dir() and csv_path.is_file() else
                  "pickle" if pkl else "imagenet" if imagenet_dir and csv_path.is_file() else "")
    if layout not in ("images", "pickle", "imagenet"):
        if layout:
            raise ValueError(f"miniimagenet layout must be auto, images, pickle or imagenet, got {layout!r}")
        raise missing_data("miniimagenet", root, [
            f"images/<filename>.jpg + {csv_path.name} (layout images)",
            f"mini-imagenet-cache-{split}.pkl (layout pickle)",
            f"{csv_path.name} + data.options.imagenet_dir=<ImageNet train folder> (layout imagenet)"], WHERE)
    if layout == "pickle" and pkl is None:
        raise missing_data("miniimagenet", root, [f"mini-imagenet-cache-{split}.pkl"], WHERE)
    if layout != "pickle" and not csv_path.is_file():
        raise missing_data("miniimagenet", csv_path.parent, [csv_path.name], WHERE)
    imagenet = Path(imagenet_dir).expanduser().resolve() if imagenet_dir else None
    if layout == "imagenet" and (imagenet is None or not imagenet.is_dir()):
        raise missing_data("miniimagenet", imagenet or root, ["<wnid>/<wnid>_<n>.JPEG"],
                           "the raw files come from the ImageNet (ILSVRC-2012) train set.",
                           "Set data.options.imagenet_dir to that folder.")
    source = {"pickle": pkl, "imagenet": imagenet}.get(layout, root)
    spec = CacheSpec("miniimagenet", split, str(source), layout, image_size, opts.channels or 3,
                     opts.crop or "none", opts.resample,
                     extra={"csv": str(csv_path)} if layout != "pickle" else {})

    def collect() -> Collected:
        if layout == "pickle":
            return _collect_pickle(pkl)
        rows = read_csv(csv_path)
        if layout == "images":
            return _collect_images(root, rows, image_size)
        return _collect_imagenet(imagenet, rows, image_size)

    return cached_split(spec, collect, opts)

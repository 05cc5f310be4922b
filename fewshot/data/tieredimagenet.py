"""tieredImageNet (Ren et al. 2018): 351 / 97 / 160 classes in 20 / 6 / 8 super-categories.

Layouts in ``root``:

* ``png``: ``{split}_images_png.pkl`` (a list of PNG-encoded 84 x 84 images) +
  ``{split}_labels.pkl`` (keys ``label_specific``, ``label_general``, ``label_specific_str``,
  ``label_general_str``).
* ``npz``: ``{split}_images.npz`` with key ``images`` (N, 84, 84, 3) + the same labels pickle.

Colour order, explicitly: the PNGs were written with ``cv2.imencode`` from BGR arrays, so the
files hold true RGB; decoding with PIL (as here) gives RGB, decoding with cv2 would give BGR.
The ``npz`` files were made with ``cv2.imdecode`` and so hold **BGR** arrays; ``npz_order``
(default ``"bgr"``) says what they hold and they are flipped to RGB. ``color_order="bgr"`` returns
BGR instead, for models trained on cv2-decoded pixels.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .cache import CacheSpec, Collected
from .cache_write import cached_split
from .errors import check_split, missing_data
from .images import open_image
from .options import parse_options
from .registry import register_dataset
from .safe_pickle import load_pickle
from .sources import resolve_root

SPLITS = ("train", "val", "test")
ALIASES = {"validation": "val", "valid": "val"}
ORDERS = ("rgb", "bgr")
WHERE = "people usually get Ren et al.'s tiered-imagenet archive (the *_images_png.pkl and *_labels.pkl files)."


def _text(x) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


def read_labels(path: Path):
    """(labels 0..C-1, class names, meta with super-categories) from a ``*_labels.pkl``."""
    lab = load_pickle(path)
    if not isinstance(lab, dict) or "label_specific" not in lab:
        raise ValueError(f"{str(path)!r} should be a dict with key 'label_specific' (and "
                         "'label_general', 'label_specific_str', 'label_general_str')")
    specific = np.asarray(lab["label_specific"]).astype(np.int64)
    ids, first, labels = np.unique(specific, return_index=True, return_inverse=True)
    strs = lab.get("label_specific_str")
    names = [_text(strs[i]) for i in ids] if strs is not None and len(strs) > ids.max() else \
        [str(i) for i in ids]
    meta = {}
    if "label_general" in lab:
        general = np.asarray(lab["label_general"]).astype(np.int64)
        meta["superclass"] = general[first].tolist()  # from each class's first image
        gstrs = lab.get("label_general_str")
        if gstrs is not None:
            meta["superclass_names"] = [_text(g) for g in gstrs]
    return labels.astype(np.int64), names, meta


def iter_npz(path: Path, key: str = "images", chunk: int = 1024) -> Iterator[np.ndarray]:
    """Stream an array out of an ``.npz`` in chunks, without loading all of it (tiered: ~9 GB)."""
    with zipfile.ZipFile(path) as z:
        if f"{key}.npy" not in z.namelist():
            raise ValueError(f"{str(path)!r} has no array {key!r}; it holds {z.namelist()}")
        with z.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(f)
            if fortran or dtype != np.uint8:
                raise ValueError(f"{str(path)!r}: {key!r} must be a C-ordered uint8 array, got {dtype}")
            per = int(np.prod(shape[1:]))
            for s in range(0, shape[0], chunk):
                n = min(chunk, shape[0] - s)
                yield np.frombuffer(f.read(n * per), np.uint8).reshape((n,) + tuple(shape[1:]))


@register_dataset("tieredimagenet", splits=("train", "val", "test"), test_split="test", cached=True)
def load_tieredimagenet(split: str = "train", root=None, image_size: int = 84, seed: int = 0,
                        layout: str = "auto", color_order: str = "rgb", npz_order: str = "bgr",
                        **options):
    """One split of tieredImageNet as a memory-mapped :class:`~fewshot.data.base.ImageSplit`.

    Args:
        split: ``train``, ``val`` or ``test``.
        root: folder with the pickles / npz files (default ``<data dir>/tieredImageNet``).
        layout: ``auto`` (png pickle if present, else npz), ``png`` or ``npz``.
        color_order: channel order of the returned images, ``rgb`` or ``bgr``.
        npz_order: channel order stored in ``{split}_images.npz`` (``bgr`` if made with cv2).
        **options: shared :class:`~fewshot.data.options.LoadOptions`.

    Returns:
        ImageSplit, images (N, S, S, 3) uint8; ``meta["superclass"]`` gives each class's
        super-category id (``meta["superclass_names"]`` their names).
    """
    opts, _ = parse_options("tieredimagenet", options)
    split = check_split("tieredimagenet", split, SPLITS, ALIASES)
    for name, v in (("color_order", color_order), ("npz_order", npz_order)):
        if v not in ORDERS:
            raise ValueError(f"tieredimagenet option {name} must be 'rgb' or 'bgr', got {v!r}")
    root = resolve_root(root, "tieredImageNet")
    png, npz, labels_path = (root / f"{split}_images_png.pkl", root / f"{split}_images.npz",
                             root / f"{split}_labels.pkl")
    if layout == "auto":
        layout = "png" if png.is_file() else "npz" if npz.is_file() else ""
    if layout not in ("png", "npz") or not labels_path.is_file() or \
            not (png if layout == "png" else npz).is_file():
        if layout not in ("png", "npz", ""):
            raise ValueError(f"tieredimagenet layout must be auto, png or npz, got {layout!r}")
        raise missing_data("tieredimagenet", root, [
            f"{png.name} + {labels_path.name} (layout png)",
            f"{npz.name} (key 'images') + {labels_path.name} (layout npz)"], WHERE)
    flip = color_order != ("rgb" if layout == "png" else npz_order)
    source = png if layout == "png" else npz
    spec = CacheSpec("tieredimagenet", split, str(source), layout, image_size, opts.channels or 3,
                     opts.crop or "none", opts.resample,
                     extra={"color_order": color_order, "npz_order": npz_order if layout == "npz" else None})

    def collect() -> Collected:
        labels, names, meta = read_labels(labels_path)
        meta["color_order"] = color_order
        if layout == "npz":
            def batches():
                for b in iter_npz(npz):
                    yield b[..., ::-1] if flip else b
            return Collected(labels=labels, class_names=names, batches=batches, meta=meta)
        encoded = load_pickle(png)
        if len(encoded) != len(labels):
            raise ValueError(f"{png.name} holds {len(encoded)} images but {labels_path.name} "
                             f"{len(labels)} labels")

        def decode(i):
            img = open_image(bytes(np.asarray(encoded[i], dtype=np.uint8)), image_size)
            return np.asarray(img.convert("RGB"))[..., ::-1] if flip else img

        return Collected(labels=labels, class_names=names, items=range(len(encoded)), decode=decode,
                         describe=lambda i: f"{png}[{i}]", meta=meta)

    return cached_split(spec, collect, opts)

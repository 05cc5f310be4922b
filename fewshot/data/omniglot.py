"""Omniglot (Lake et al.): ``images_background/`` (964 characters) + ``images_evaluation/`` (659),
as ``<alphabet>/characterNN/*.png`` (105 x 105, 20 drawers per character), three class splits:

* ``lake``: splits ``background`` and ``evaluation``, as the archive ships them.
* ``vinyals``: 1,028 / 172 / 423 characters x 4 rotations (0/90/180/270, each a new class), read
  from the split files ``{train,val,test,trainval}.txt`` (lines ``Alphabet/characterNN/rot000``)
  in ``split_dir`` (default ``root/splits/vinyals``, the layout of Snell et al.'s code).
* ``alphabet`` (Meta-Dataset): ``train`` = the background alphabets except the five with the
  fewest characters, which are ``valid``; ``test`` = the 20 evaluation alphabets.

``split_scheme="auto"`` picks the scheme from the split name (``background``/``evaluation`` ->
lake, ``train``/``val``/``test``/``trainval`` -> vinyals). Images are grey, black strokes on white
as in the files; ``invert=True`` gives white on black (as glyphs and MNIST).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
from PIL import Image, ImageOps

from .cache import CacheSpec, Collected
from .cache_write import cached_split
from .errors import check_split, missing_data
from .images import open_image
from .options import parse_options
from .registry import register_dataset
from .sources import class_folders, list_images, resolve_root

SETS = ("images_background", "images_evaluation")
SCHEMES = {"lake": ("background", "evaluation"), "vinyals": ("train", "val", "test", "trainval"),
           "alphabet": ("train", "valid", "test")}
WHERE = ("people usually get images_background.zip and images_evaluation.zip from the "
         "brendenlake/omniglot repository (python/ folder).")
_ROT = {0: None, 90: Image.ROTATE_90, 180: Image.ROTATE_180, 270: Image.ROTATE_270}


def _alphabet_dirs(root: Path, sets=SETS + ("data",)) -> dict:
    """Alphabet name -> folder, over the given top-level folders (and ``python/`` below root)."""
    out = {}
    for base in (root, root / "python"):
        for s in sets:
            if (base / s).is_dir():
                out.update({p.name: p for p in class_folders(base / s)})
    return out


def alphabet_split(root: Path, split: str) -> List[Path]:
    """Alphabet folders of Meta-Dataset's split (validation = 5 smallest background alphabets)."""
    if split == "test":
        return class_folders(root / "images_evaluation")
    background = class_folders(root / "images_background")
    by_size = sorted(background, key=lambda p: (len(class_folders(p)), p.name))
    valid = {p.name for p in by_size[:5]}
    return [p for p in background if (p.name in valid) == (split == "valid")]


def _vinyals_classes(root: Path, split: str, split_dir: Path):
    path = split_dir / f"{split}.txt"
    if not path.is_file():
        raise missing_data("omniglot", split_dir, [path.name], "the Vinyals split files come with "
                           "Snell et al.'s prototypical-networks code (data/omniglot/splits/vinyals/).",
                           "Or set data.options.split_dir to their folder, or choose "
                           "data.options.split_scheme=lake or alphabet.")
    dirs = _alphabet_dirs(root)
    classes = []
    for line in path.read_text().split():
        alphabet, char, rot = line.strip("/").split("/")
        if alphabet not in dirs:
            raise missing_data("omniglot", root, [f"images_background/{alphabet}/{char}",
                                                  f"images_evaluation/{alphabet}/{char}"], WHERE)
        if not rot.startswith("rot") or rot[3:] not in ("000", "090", "180", "270"):
            raise ValueError(f"{path}: line {line!r} should end in rot000, rot090, rot180 or rot270")
        classes.append((line, dirs[alphabet] / char, int(rot[3:])))
    return classes


def _omniglot_splits(options):
    return {"auto": ("background", "evaluation"), "lake": ("background", "evaluation"),
            "vinyals": ("train", "val", "test"),
            "alphabet": ("train", "valid", "test")}[options.get("split_scheme", "auto")]


@register_dataset("omniglot", splits=_omniglot_splits, test_split="evaluation", cached=True)
def load_omniglot(split: str = "background", root=None, image_size: int = 28, seed: int = 0,
                  split_scheme: str = "auto", split_dir=None, invert: bool = False, **options):
    """One split of Omniglot as a memory-mapped :class:`~fewshot.data.base.ImageSplit`.

    Args:
        split: see the module docstring for each scheme's split names.
        root: folder holding ``images_background/`` and ``images_evaluation/`` (default
            ``<data dir>/omniglot``).
        split_scheme: ``auto``, ``lake``, ``vinyals`` or ``alphabet``.
        split_dir: folder with the Vinyals split files.
        invert: white strokes on black.
        **options: shared :class:`~fewshot.data.options.LoadOptions` (grey by default).

    Returns:
        ImageSplit, images (N, S, S) uint8; class names ``Alphabet/characterNN[/rotDDD]``;
        ``meta["alphabets"]`` the alphabet of each class.
    """
    opts, _ = parse_options("omniglot", options)
    if split_scheme == "auto":
        split_scheme = "lake" if split in SCHEMES["lake"] else "vinyals"
    if split_scheme not in SCHEMES:
        raise ValueError(f"omniglot split_scheme must be auto, lake, vinyals or alphabet, got {split_scheme!r}")
    split = check_split("omniglot", split, SCHEMES[split_scheme],
                        {"val": "valid", "validation": "valid"} if split_scheme == "alphabet" else {})
    root = resolve_root(root, "omniglot")
    if not _alphabet_dirs(root):
        raise missing_data("omniglot", root, [f"{s}/<alphabet>/characterNN/*.png" for s in SETS], WHERE)
    split_dir = Path(split_dir).expanduser() if split_dir else root / "splits" / "vinyals"
    spec = CacheSpec("omniglot", split, str(root), split_scheme, image_size, opts.channels or 1,
                     opts.crop or "none", opts.resample,
                     extra={"invert": invert, "split_dir": str(split_dir) if split_scheme == "vinyals" else None})

    def collect() -> Collected:
        if split_scheme == "vinyals":
            classes = _vinyals_classes(root, split, split_dir)
        else:
            if split_scheme == "lake":
                alphabets = class_folders(root / f"images_{split}") if (root / f"images_{split}").is_dir() \
                    else []
            else:
                alphabets = alphabet_split(root, split)
            if not alphabets:
                raise missing_data("omniglot", root, [f"images_{'evaluation' if split == 'test' else split}"
                                                      "/<alphabet>/characterNN/*.png"], WHERE)
            classes = [(f"{a.name}/{c.name}", c, 0) for a in alphabets for c in class_folders(a)]
        items, labels = [], []
        for k, (_, folder, rot) in enumerate(classes):
            files = list_images(folder)
            items += [(f, rot) for f in files]
            labels += [k] * len(files)

        def decode(item):
            img = open_image(item[0]).convert("L")
            if _ROT[item[1]] is not None:
                img = img.transpose(_ROT[item[1]])  # counter-clockwise, exact for multiples of 90
            return ImageOps.invert(img) if invert else img

        return Collected(labels=np.asarray(labels, dtype=np.int64), class_names=[c[0] for c in classes],
                         items=items, decode=decode, describe=lambda it: str(it[0]),
                         meta={"alphabets": [c[0].split("/")[0] for c in classes],
                               "split_scheme": split_scheme})

    return cached_split(spec, collect, opts)

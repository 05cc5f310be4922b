"""CUB-200-2011 (``CUB_200_2011/images/<class folder>/*.jpg``) with its two common class splits.

* ``closer_look`` (Chen et al. 2019, most cross-domain work): the 200 class folders sorted;
  ``base`` = index i % 2 == 0 (100), ``val`` = i % 4 == 1 (50), ``novel`` = i % 4 == 3 (50).
  Their file lists ``{base,val,novel}.json`` (keys ``label_names``, ``image_names``,
  ``image_labels``) are used when present in ``filelists_dir`` (default: ``root``); their absolute
  paths are re-rooted on the local ``images/`` folder.
* ``meta_dataset`` (Triantafillou et al. 2020 and some libraries): 140 / 30 / 30 classes named
  ``train`` / ``valid`` / ``test``, read from Meta-Dataset's ``cu_birds_splits.json`` given as
  ``split_file``; without it, a seeded permutation of the sorted classes (recorded in
  ``meta["split_scheme"]``, and it is *not* Meta-Dataset's list).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import numpy as np

from .cache import CacheSpec, Collected
from .cache_write import cached_split
from .errors import check_split, first_existing, missing_data
from .folder import collect_filelist
from .options import parse_options
from .registry import register_dataset
from .sources import class_folders, image_folder, resolve_root

SCHEMES = {"closer_look": ("base", "val", "novel"), "meta_dataset": ("train", "valid", "test")}
ALIASES = {"closer_look": {"train": "base", "validation": "val", "valid": "val", "test": "novel"},
           "meta_dataset": {"val": "valid", "validation": "valid", "base": "train", "novel": "test"}}
WHERE = "people usually get CUB_200_2011.tgz from the Caltech-UCSD Birds-200-2011 page."


def closer_look_classes(names: List[str], split: str) -> List[str]:
    """Class folders of a Closer Look split, from the sorted list of all class folders."""
    rule = {"base": lambda i: i % 2 == 0, "val": lambda i: i % 4 == 1, "novel": lambda i: i % 4 == 3}
    return [n for i, n in enumerate(sorted(names)) if rule[split](i)]


def meta_dataset_classes(names: List[str], split: str, split_file: Optional[Path], seed: int):
    """Classes of a 140 / 30 / 30 split and a description of where the split came from."""
    if split_file is not None:
        lists = json.loads(Path(split_file).read_text())
        if split not in lists:
            raise ValueError(f"{split_file} has no key {split!r} (expected train, valid, test)")
        return list(lists[split]), f"meta_dataset ({Path(split_file).name})"
    order = [sorted(names)[i] for i in np.random.default_rng(seed).permutation(len(names))]
    n_train, n_trainval = int(0.7 * len(names)), int(0.85 * len(names))  # 140 / 170 of 200
    part = {"train": order[:n_train], "valid": order[n_train:n_trainval], "test": order[n_trainval:]}
    return sorted(part[split]), f"meta_dataset-sized random split (seed {seed}), not Meta-Dataset's list"


def _cub_splits(options):
    return {"closer_look": ("base", "val", "novel"),
            "meta_dataset": ("train", "valid", "test")}[options.get("split_scheme", "closer_look")]


@register_dataset("cub", splits=_cub_splits, test_split="novel", cached=True)
def load_cub(split: str = "novel", root=None, image_size: int = 84, seed: int = 0,
             split_scheme: str = "closer_look", filelists_dir=None, split_file=None, **options):
    """One split of CUB-200-2011 as a memory-mapped :class:`~fewshot.data.base.ImageSplit`.

    Args:
        split: ``base`` / ``val`` / ``novel`` (closer_look) or ``train`` / ``valid`` / ``test``
            (meta_dataset); ``train``, ``val``, ``test`` are accepted for either.
        root: ``CUB_200_2011`` or the folder holding it (default ``<data dir>/CUB_200_2011``).
        seed: permutation seed of the fallback 140 / 30 / 30 split.
        split_scheme: ``closer_look`` or ``meta_dataset``.
        filelists_dir: folder with Closer Look's ``{base,val,novel}.json``.
        split_file: Meta-Dataset's ``cu_birds_splits.json``.
        **options: shared :class:`~fewshot.data.options.LoadOptions`; crop defaults to
            ``center`` (Closer Look's test transform).
    """
    opts, _ = parse_options("cub", options)
    if split_scheme not in SCHEMES:
        raise ValueError(f"cub split_scheme must be one of {', '.join(SCHEMES)}, got {split_scheme!r}")
    split = check_split("cub", split, SCHEMES[split_scheme], ALIASES[split_scheme])
    root = resolve_root(root, "CUB_200_2011")
    images = first_existing(root, ["images", "CUB_200_2011/images"])
    if images is None or not images.is_dir():
        raise missing_data("cub", root, ["images/<class folder>/*.jpg",
                                         "CUB_200_2011/images/<class folder>/*.jpg"], WHERE)
    filelist = Path(filelists_dir or images.parent).expanduser() / f"{split}.json"
    use_list = split_scheme == "closer_look" and filelist.is_file()
    spec = CacheSpec("cub", split, str(images), split_scheme, image_size, opts.channels or 3,
                     opts.crop or "center", opts.resample,
                     extra={"filelist": str(filelist) if use_list else None,
                            "split_file": str(split_file) if split_file else None,
                            "seed": seed if split_scheme == "meta_dataset" and not split_file else None})

    def collect() -> Collected:
        if use_list:
            found = collect_filelist(filelist, images, image_size)
            found.meta["split_scheme"] = f"closer_look ({filelist.name})"
            return found
        names = [p.name for p in class_folders(images)]
        if split_scheme == "closer_look":
            return image_folder(images, closer_look_classes(names, split), image_size,
                                {"split_scheme": "closer_look (sorted class folders)"})
        classes, how = meta_dataset_classes(names, split, split_file, seed)
        return image_folder(images, classes, image_size, {"split_scheme": how})

    return cached_split(spec, collect, opts)

"""Any user data: an image folder, or a Closer-Look-style JSON file list.

* ``imagefolder``: ``root/<class>/<image>`` (torchvision's ImageFolder convention); split ``all``
  reads ``root`` itself, any other split name reads ``root/<split>/<class>/<image>``.
* ``filelist``: ``root/<split>.json`` with keys ``label_names``, ``image_names``, ``image_labels``,
  the format of Chen et al.'s "Closer Look" lists and of Tseng et al.'s cross-domain lists (CUB,
  Cars, Places, Plantae). Paths that do not exist here are re-rooted on ``image_root`` by the
  longest trailing part of the path that exists below it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

from .cache import CacheSpec, Collected
from .cache_write import cached_split
from .errors import DataNotFoundError, missing_data
from .options import parse_options
from .registry import register_dataset
from .sources import class_folders, from_file_lists, image_folder, own_channels

WHERE_FOLDER = "an image folder is your own data: one sub-folder per class, images inside."
WHERE_LIST = "the lists come with the Closer Look (wyharveychen/CloserLookFewShot) or Tseng et al.'s code."


@register_dataset("imagefolder", splits=("all",), test_split="all", cached=True)
def load_image_folder(split: str = "all", root=None, image_size: int = 84, seed: int = 0, **options):
    """Every class folder under ``root`` (split ``all``) or under ``root/<split>``.

    Returns:
        ImageSplit with classes in sorted folder-name order; without a ``channels`` option, grey
        when the images are grey (see :func:`~fewshot.data.sources.own_channels`), else RGB.
    """
    opts, _ = parse_options("imagefolder", options)
    if root is None:
        raise ValueError("data set 'imagefolder' needs a root: data.root (or --data-root) = the "
                         "folder with one sub-folder per class")
    root = Path(root).expanduser().resolve()
    folder = root if split == "all" else root / split
    if not folder.is_dir() or not class_folders(folder):
        raise missing_data("imagefolder", root, [f"{'' if split == 'all' else split + '/'}<class>/<image>"],
                           WHERE_FOLDER, "Split 'all' reads root itself.")
    channels = opts.channels or own_channels(folder)  # the images' own: grey PNGs stay grey
    spec = CacheSpec("imagefolder", split, str(folder), "imagefolder", image_size, channels,
                     opts.crop or "none", opts.resample)
    return cached_split(spec, lambda: image_folder(folder, size_hint=image_size), opts)


def _rerooter(first: Path, image_root: Optional[Path]):
    """A function mapping listed paths to local ones, found from the first listed path."""
    if first.exists() or image_root is None:
        return lambda p: p
    parts = first.parts
    for k in range(len(parts) - 1, 0, -1):  # longest suffix first
        if image_root.joinpath(*parts[-k:]).exists():
            return lambda p, k=k: image_root.joinpath(*p.parts[-k:])
    raise DataNotFoundError(f"listed image {first} does not exist, and no trailing part of it "
                            f"exists under image_root={image_root}")


def collect_filelist(path: Path, image_root: Optional[Path], size: int) -> Collected:
    data = json.loads(path.read_text())
    if not {"label_names", "image_names", "image_labels"} <= set(data):
        raise ValueError(f"{path} should have keys label_names, image_names, image_labels")
    if not data["image_names"]:
        raise ValueError(f"{path} lists no images")
    move = _rerooter(Path(data["image_names"][0]), image_root)
    per: Dict[int, List[Path]] = {}
    for name, lab in zip(data["image_names"], data["image_labels"]):
        per.setdefault(int(lab), []).append(move(Path(name)))
    return from_file_lists([(str(data["label_names"][k]), per[k]) for k in sorted(per)], size,
                           {"filelist": str(path)})


@register_dataset("filelist", splits=("base", "val", "novel"), test_split="novel", cached=True)
def load_filelist(split: str = "novel", root=None, image_size: int = 84, seed: int = 0,
                  image_root=None, **options):
    """Classes and images listed in ``root/<split>.json`` (Closer Look format).

    Args:
        split: the list's name, e.g. ``base``, ``val``, ``novel``.
        root: folder with the JSON lists.
        image_root: where the images are, when the listed paths are from another machine.
        **options: shared :class:`~fewshot.data.options.LoadOptions`; crop defaults to ``center``.
    """
    opts, _ = parse_options("filelist", options)
    if root is None:
        raise ValueError("data set 'filelist' needs a root: the folder with <split>.json")
    root = Path(root).expanduser().resolve()
    path = root / f"{split}.json"
    if not path.is_file():
        raise missing_data("filelist", root, [path.name], WHERE_LIST)
    image_root = Path(image_root).expanduser().resolve() if image_root else None
    spec = CacheSpec("filelist", split, str(path), "filelist", image_size, opts.channels or 3,
                     opts.crop or "center", opts.resample, extra={"image_root": str(image_root)})
    return cached_split(spec, lambda: collect_filelist(path, image_root, image_size), opts)

"""Load a split of the glyphs benchmark as an :class:`~fewshot.data.base.ImageSplit`."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..base import ImageSplit
from ..errors import DataNotFoundError
from ..paths import PathLike, resolve_data_dir
from ..registry import register_dataset
from . import options as opt
from .build import build_glyphs
from .splits import SPLITS

_BUILD_ARGS = ("instances", "alphabets", "max_chars_per_alphabet")
_ALIASES = {"train": "background", "val": "validation", "test": "evaluation"}


@register_dataset("glyphs", splits=("background", "validation", "evaluation"), test_split="evaluation")
def load_glyphs(split: str = "background", root: Optional[PathLike] = None,
                image_size: int = 28, seed: int = 0, build: bool = True,
                **build_kwargs) -> ImageSplit:
    """One split of the glyphs benchmark, memory-mapped from its cache.

    Args:
        split: ``"background"``, ``"validation"``, ``"evaluation"`` or ``"all"`` (``"train"``,
            ``"val"``, ``"test"`` are accepted too).
        root: data folder (default :func:`fewshot.data.paths.default_data_dir`).
        image_size: image side S.
        seed: build seed.
        build: build the cache if it is missing (takes under a minute); if False, a missing
            cache raises FileNotFoundError.
        **build_kwargs: passed to :func:`build_glyphs` (``instances``, ``alphabets``,
            ``difficulty``, ...); they select which cache is read.

    Returns:
        ImageSplit with images (N, S, S) uint8 (read-only memmap, white ink on black),
        labels 0..C-1 and meta keys ``alphabets`` (per class), ``chars``, ``codepoints``,
        ``split_alphabets`` (this split's), ``splits`` (every split's alphabets), ``folder``,
        ``seed``, ``instances``, ``split``.

    Raises:
        ValueError: unknown split or bad option.
        DataNotFoundError: (a FileNotFoundError) no cache and ``build=False``.
    """
    split = _ALIASES.get(split, split)
    if split not in SPLITS + ("all",):
        raise ValueError(f"glyphs has no split {split!r}; choose one of "
                         f"{', '.join(SPLITS + ('all',))} (or train, val, test)")
    extra = {k: v for k, v in build_kwargs.items() if k not in ("force", "progress")}
    knobs = {k: v for k, v in extra.items() if k not in _BUILD_ARGS and k != "workers"}
    o = opt.resolve(image_size, seed, extra.get("instances", opt.DEFAULT_INSTANCES),
                    extra.get("alphabets"), extra.get("max_chars_per_alphabet"), knobs)
    folder = resolve_data_dir(root) / opt.folder_name(o)
    if build:
        folder = build_glyphs(root=root, image_size=image_size, seed=seed, **build_kwargs)
    elif not opt.is_valid_cache(folder, o):
        raise DataNotFoundError(
            f"the glyphs benchmark ({image_size}px, seed {seed}) is not built in {folder}. "
            f"Build it once (under a minute) with `fewshot data build glyphs"
            f"{'' if root is None else f' --root {root}'} --image-size {image_size} --seed {seed}`,"
            " or call fewshot.data.glyphs.build_glyphs(...) / load_glyphs(..., build=True)"
            + ("." if opt.is_default(o) else f" with the same options ({extra})."))
    m = opt.read_manifest(folder)
    if split == "all":
        start, stop = 0, m["counts"]["classes"]
        alphabets = [a for s in SPLITS for a in m["splits"][s]["alphabets"]]
    else:
        start, stop = m["splits"][split]["classes"]
        alphabets = m["splits"][split]["alphabets"]
    n = m["instances"]
    images = np.load(folder / "images.npy", mmap_mode="r")[start * n:stop * n]
    labels = np.repeat(np.arange(stop - start, dtype=np.int64), n)
    classes = m["classes"][start:stop]
    meta = {"alphabets": [c["alphabet"] for c in classes], "chars": [c["char"] for c in classes],
            "codepoints": [c["codepoint"] for c in classes], "split_alphabets": alphabets,
            "folder": str(folder), "seed": seed, "instances": n, "split": split,
            "splits": {s: m["splits"][s]["alphabets"] for s in SPLITS}}
    return ImageSplit(images=images, labels=labels, class_names=[c["name"] for c in classes],
                      name=f"glyphs/{split}", meta=meta)

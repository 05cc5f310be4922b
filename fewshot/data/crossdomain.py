"""Cross-domain evaluation: shape any data set for a trained model (channels, image size, split).

A model trained on glyphs (1 channel, 28 px) evaluated on miniImageNet needs grey 28 px images;
an RGB model evaluated on Fashion-MNIST needs the grey images replicated to 3 channels. The
checkpoint says what the model expects (``in_channels``, ``config.data.image_size``); the
helpers here turn that into loader options.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .base import ImageSplit

# Evaluation split of each built-in data set when none is named: its novel classes.
TEST_SPLITS = {"glyphs": "evaluation", "miniimagenet": "test", "tieredimagenet": "test",
               "cub": "novel", "omniglot": "evaluation", "cifar_fs": "test", "fc100": "test",
               "eurosat": "test", "cropdisease": "test", "isic": "test", "chestx": "test",
               "fashion_mnist": "test", "imagefolder": "all", "filelist": "novel"}


def default_test_split(name: str) -> str:
    """The split of ``name`` holding its novel classes (``"test"`` for unknown data sets)."""
    if name in TEST_SPLITS:
        return TEST_SPLITS[name]
    from .registry import LOADERS, _builtin

    _builtin()
    fn = LOADERS.get(name)
    default = inspect.signature(fn).parameters.get("split") if fn else None
    return default.default if default is not None and isinstance(default.default, str) else "test"


def accepts(fn, option: str) -> bool:
    """Whether loader ``fn`` takes ``option`` itself (a named parameter, or a built-in loader)."""
    from . import loaders

    return fn in loaders.BUILTIN.values() or option in inspect.signature(fn).parameters


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


def target_overrides(name: str, in_channels: int, root: Optional[str] = None,
                     options: Optional[Dict[str, Any]] = None, split: Optional[str] = None) -> Dict:
    """``data_overrides`` for :func:`fewshot.evaluation.run_eval.evaluate_run` on another data set.

    Args:
        name: the target data set.
        in_channels: the checkpoint's ``in_channels``; set as ``channels`` unless given.
        root: the target's data folder (None: its loader's default).
        options: loader options (``data.options`` of the target).
        split: evaluation split (default :func:`default_test_split`).

    Returns:
        Overrides for ``cfg.data``: name, root, options, test_split (image_size is kept, so
        the target is resized to the size the model was trained at).
    """
    opts = dict(options or {})
    opts.setdefault("channels", int(in_channels))
    return {"name": name, "root": None if root is None else str(Path(root).expanduser()),
            "options": opts, "test_split": split or default_test_split(name)}


def checkpoint_data(target) -> Tuple[int, Dict[str, Any]]:
    """(``in_channels``, ``config["data"]``) recorded in a run folder's or checkpoint's checkpoint."""
    from ..engine.checkpoint import load_checkpoint
    from ..evaluation.run_eval import resolve_checkpoint

    ckpt, _ = resolve_checkpoint(Path(target))
    state = load_checkpoint(ckpt)
    return int(state["in_channels"]), dict(state["config"].get("data", {}))


def parse_option_args(pairs) -> Dict[str, Any]:
    """``["split_scheme=lake", "crop=center"]`` -> dict, each value read as YAML (numbers, bools)."""
    import yaml

    out: Dict[str, Any] = {}
    for text in pairs or []:
        if "=" not in text:
            raise ValueError(f"data option {text!r} must look like key=value, e.g. crop=center")
        key, raw = text.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
    return out

"""Data set registry: a config names a data set by string; a loader returns an ``ImageSplit``.

A loader is ``fn(split, root=None, image_size=..., seed=..., **options) -> ImageSplit`` whose
images are uint8 arrays (N, H, W) or (N, H, W, C), possibly memory-mapped, and labels are 0..C-1
within the split. Each loader declares itself, with its splits and its test split::

    @register_dataset("mydata", splits=("train", "val", "test"), test_split="test")
    def load_mydata(split="train", root=None, image_size=84, seed=0, **options): ...

``splits`` may also be a function of the loader options (a split scheme option). Loaders that go
through the uint8 cache take every :class:`~fewshot.data.options.LoadOptions` key
(``cached=True``); for the others, ``channels`` is applied after loading.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from ..registry import Registry
from .base import ImageSplit, match_channels

DATASETS = Registry("data set")
LOADERS = DATASETS  # the old name of the registry

Splits = Union[Sequence[str], Callable[[Dict[str, Any]], Sequence[str]]]


def register_dataset(name: str, *, splits: Optional[Splits] = None, test_split: Optional[str] = None,
                     cached: bool = False, replace: bool = True):
    """Decorator: ``@register_dataset("mydata", splits=..., test_split=...)`` on a loader function.

    Args:
        splits: every split (for ``fewshot data prepare``), or a function of the loader options
            returning them; default: ``("train", "val", "test")``.
        test_split: the split holding the novel classes (evaluation's default); default: the
            loader's default ``split`` argument, else ``"test"``.
        cached: the loader takes every :class:`~fewshot.data.options.LoadOptions` key.
        replace: a later registration of ``name`` (a user's own loader) replaces the earlier one.
    """
    def wrap(fn):
        DATASETS.add(name, fn, replace=replace, splits=splits, test_split=test_split, cached=cached)
        return fn
    return wrap


def available_datasets() -> list:
    """Names of every registered data set, sorted."""
    return DATASETS.names()


def _default_split(fn) -> Optional[str]:
    default = inspect.signature(fn).parameters.get("split")
    return default.default if default is not None and isinstance(default.default, str) else None


def default_test_split(name: str) -> str:
    """The split of ``name`` holding its novel classes (``"test"`` for unknown data sets)."""
    if name not in DATASETS:
        return "test"
    info = DATASETS.info(name)
    return info.get("test_split") or _default_split(DATASETS.get(name)) or "test"


def dataset_splits(name: str, options: Optional[Dict[str, Any]] = None) -> Tuple[str, ...]:
    """Every split of data set ``name`` given its loader options (for ``fewshot data prepare``)."""
    info = DATASETS.info(name)
    splits = info.get("splits")
    if callable(splits):
        splits = splits(dict(options or {}))
    return tuple(splits) if splits else ("train", "val", "test")


def accepts(name: str, option: str) -> bool:
    """Whether the loader of ``name`` takes ``option`` itself (a named parameter, or any
    :class:`~fewshot.data.options.LoadOptions` key for a cached loader)."""
    fn = DATASETS.get(name)
    return bool(DATASETS.info(name).get("cached")) or option in inspect.signature(fn).parameters


def load_split(name: str, split: str, **kwargs) -> ImageSplit:
    """Load one split of a registered data set; ``kwargs`` go to its loader.

    ``channels`` (1 or 3) is honoured for every data set: loaders without that option get
    their images converted after loading (:func:`fewshot.data.base.match_channels`).
    """
    fn = DATASETS.get(name)
    channels = kwargs.get("channels")
    if channels is not None and not accepts(name, "channels"):  # e.g. glyphs: convert after loading
        kwargs.pop("channels")
        return match_channels(fn(split=split, **kwargs), int(channels))
    return fn(split=split, **kwargs)


def load_from_config(data_cfg, split: str) -> ImageSplit:
    """Load ``split`` of the data set a :class:`fewshot.config.DataConfig` describes."""
    return load_split(data_cfg.name, split, root=data_cfg.root, image_size=data_cfg.image_size,
                      seed=data_cfg.seed, **data_cfg.options)


__all__ = ["DATASETS", "LOADERS", "accepts", "available_datasets", "dataset_splits", "default_test_split",
           "load_from_config", "load_split", "register_dataset"]

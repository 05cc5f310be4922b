"""Data set registry: a config names a data set by string; a loader returns an ``ImageSplit``.

A loader is ``fn(split, root=None, image_size=..., seed=..., **options) -> ImageSplit`` whose
images are uint8 arrays (N, H, W) or (N, H, W, C), possibly memory-mapped, and labels are 0..C-1
within the split. Register your own with :func:`register_dataset`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

LOADERS: Dict[str, Callable[..., Any]] = {}


def register_dataset(name: str):
    """Decorator: ``@register_dataset("mydata")`` on a loader function."""

    def wrap(fn):
        LOADERS[name] = fn
        return fn

    return wrap


def _builtin() -> None:
    # Imported lazily so that `import fewshot` stays light.
    if "glyphs" not in LOADERS:
        from .glyphs import load_glyphs

        LOADERS["glyphs"] = load_glyphs
    from . import loaders  # noqa: F401  (registers the benchmark layouts on first import)
    from .multi import load_multi

    LOADERS.setdefault("multi", load_multi)  # several data sets as domains of one split


def available_datasets() -> list:
    """Names of every registered data set (built-in ones included), sorted."""
    _builtin()
    return sorted(LOADERS)


def load_split(name: str, split: str, **kwargs):
    """Load one split of a registered data set; ``kwargs`` go to its loader.

    ``channels`` (1 or 3) is honoured for every data set: loaders without that option get
    their images converted after loading (:func:`fewshot.data.crossdomain.match_channels`).
    """
    _builtin()
    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(sorted(LOADERS))}")
    fn = LOADERS[name]
    channels = kwargs.get("channels")
    if channels is not None:
        from .crossdomain import accepts, match_channels

        if not accepts(fn, "channels"):  # e.g. glyphs: convert after loading instead
            kwargs.pop("channels")
            return match_channels(fn(split=split, **kwargs), int(channels))
    return fn(split=split, **kwargs)


def load_from_config(data_cfg, split: str):
    """Load ``split`` of the data set a :class:`fewshot.config.DataConfig` describes."""
    return load_split(data_cfg.name, split, root=data_cfg.root, image_size=data_cfg.image_size,
                      seed=data_cfg.seed, **data_cfg.options)

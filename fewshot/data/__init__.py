"""Data sets: loaders return an :class:`ImageSplit` of uint8 images and 0..C-1 labels.

Benchmark layouts (miniImageNet, tieredImageNet, CUB, Omniglot, CIFAR-FS, FC100, the BSCD-FSL
targets, Fashion-MNIST, image folders) are registered by name in :mod:`.loaders` and served from
the pre-decoded, memory-mapped cache of :mod:`.cache`; precomputed feature files load with
:func:`load_features`.
"""

from .base import ImageSplit
from .cache import CacheSpec, Collected, cached_split, open_cache
from .crossdomain import default_test_split, match_channels
from .errors import CorruptImageError, DataNotFoundError
from .features import FeatureSplit, load_features
from .glyphs import build_glyphs, load_glyphs, show_glyphs
from .options import LoadOptions
from .paths import default_data_dir
from .registry import available_datasets, load_from_config, load_split, register_dataset

__all__ = ["CacheSpec", "Collected", "CorruptImageError", "DataNotFoundError", "FeatureSplit",
           "ImageSplit", "LoadOptions", "available_datasets", "build_glyphs", "cached_split",
           "default_data_dir", "default_test_split", "load_features", "load_from_config",
           "load_glyphs", "load_split", "match_channels", "open_cache", "register_dataset",
           "show_glyphs"]

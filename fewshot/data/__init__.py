"""Data sets: loaders return an :class:`ImageSplit` of uint8 images and 0..C-1 labels.

Each loader declares itself in the registry (:mod:`.registry`) with its splits and test split;
benchmark layouts are served from the pre-decoded, memory-mapped cache of :mod:`.cache`;
precomputed feature files load with :func:`load_features`. Importing this package registers
every built-in data set:

| name | layout | splits |
| --- | --- | --- |
| miniimagenet | images + Ravi CSVs, Ren pickles, raw ImageNet + CSVs | train, val, test |
| tieredimagenet | PNG pickles, npz | train, val, test |
| cub | CUB_200_2011/images, Closer Look or 140/30/30 | base, val, novel / train, valid, test |
| omniglot | images_background + images_evaluation | lake, vinyals, alphabet schemes |
| cifar_fs, fc100 | one pickle per split | train, val, test |
| eurosat, cropdisease, isic, chestx | BSCD-FSL targets | test |
| fashion_mnist | idx files | test, train, all |
| imagefolder | root/<class>/<image> | all, or a sub-folder name |
| filelist | Closer Look JSON lists | the list's name |
| glyphs | built from fonts (no download) | background, validation, evaluation |
| multi | several data sets as domains | the keys of its ``splits`` option |
"""

# every built-in loader module, imported so that it registers itself
from . import bscd, cifar, cub, fashion_mnist, folder, miniimagenet, multi, omniglot, tieredimagenet  # noqa: F401
from .base import ImageSplit, match_channels
from .cache import CacheSpec, Collected, open_cache
from .cache_write import cached_split
from .errors import CorruptImageError, DataNotFoundError
from .features import FeatureSplit, load_features
from .glyphs import build_glyphs, load_glyphs, show_glyphs
from .options import LoadOptions
from .paths import default_data_dir
from .registry import (
    DATASETS,
    available_datasets,
    dataset_splits,
    default_test_split,
    load_from_config,
    load_split,
    register_dataset,
)

__all__ = ["DATASETS", "CacheSpec", "Collected", "CorruptImageError", "DataNotFoundError", "FeatureSplit",
           "ImageSplit", "LoadOptions", "available_datasets", "build_glyphs", "cached_split",
           "dataset_splits", "default_data_dir", "default_test_split", "load_features", "load_from_config",
           "load_glyphs", "load_split", "match_channels", "open_cache", "register_dataset",
           "show_glyphs"]

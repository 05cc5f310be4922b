"""``multi``: one split made of several registered data sets, each a domain (as in Meta-Dataset).

Config::

    data:
      name: multi
      train_split: train
      test_split: test
      options:
        channels: 1            # optional; default 3 if any source is in colour, else 1
        splits:
          train: [{name: glyphs, split: background},
                  {name: fashion_mnist, split: train, classes: [0, 1, 2, 3, 4], max_per_class: 500}]
          test:  [{name: glyphs, split: evaluation},
                  {name: fashion_mnist, split: test, classes: [5, 6, 7, 8, 9]}]

Labels are global (source after source), so classes of different domains never share a label;
``meta["domains"]`` gives each image's domain, which the episode samplers use to draw one
domain per episode (:mod:`fewshot.runs.episodes`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .base import ImageSplit, match_channels
from .images import to_array
from .registry import load_split, register_dataset

SOURCE_KEYS = ("name", "split", "domain", "classes", "max_per_class", "root", "seed", "options")


def _check_source(src: Any, where: str) -> Dict[str, Any]:
    if not isinstance(src, Mapping) or "name" not in src or "split" not in src:
        raise ValueError(f"{where} must be a mapping with at least name and split, e.g. "
                         f"{{name: glyphs, split: background}}; got {src!r}")
    unknown = [k for k in src if k not in SOURCE_KEYS]
    if unknown:
        raise ValueError(f"{where} has unknown key {unknown[0]!r}; valid keys: {', '.join(SOURCE_KEYS)}")
    if not isinstance(src.get("options", {}), Mapping):
        raise ValueError(f"{where}: options must be a mapping of loader options, got {src['options']!r}")
    return dict(src)


def _select_classes(split: ImageSplit, wanted: Optional[Sequence], where: str) -> List[int]:
    """Source labels to keep, in the order given (labels or class names); all when None."""
    if wanted is None:
        return list(range(split.num_classes))
    out = []
    for c in wanted:
        if isinstance(c, str):
            if c not in split.class_names:
                raise ValueError(f"{where}: no class named {c!r} in {split.name}; its classes: "
                                 f"{', '.join(split.class_names[:20])}")
            c = split.class_names.index(c)
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < split.num_classes:
            raise ValueError(f"{where}: class {c!r} is not a label 0..{split.num_classes - 1} of {split.name}")
        out.append(int(c))
    if len(set(out)) != len(out) or not out:
        raise ValueError(f"{where}: classes must be a non-empty list without repeats, got {list(wanted)}")
    return out


def _pick(labels: np.ndarray, keep: List[int], max_per_class: Optional[int],
          rng: np.random.Generator) -> List[np.ndarray]:
    """Image indices of each kept class (ascending), at most ``max_per_class`` drawn at random."""
    picked = []
    for c in keep:
        idx = np.flatnonzero(labels == c)
        if max_per_class is not None and len(idx) > max_per_class:
            idx = np.sort(rng.choice(idx, size=max_per_class, replace=False))
        picked.append(idx)
    return picked


def _to_shape(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """(n, size, size[, 3]) uint8: resize (PIL, bilinear) only images of another size."""
    if images.shape[1:3] == (size, size):
        return np.asarray(images)
    return np.stack([to_array(np.asarray(im), size, channels) for im in images]) if len(images) \
        else np.zeros((0, size, size) + ((3,) if channels == 3 else ()), np.uint8)


@register_dataset("multi", splits=lambda options: tuple(options.get("splits") or ("train", "val", "test")),
                  test_split="test")
def load_multi(split: str = "test", root=None, image_size: int = 28, seed: int = 0,
               splits: Optional[Mapping[str, Sequence[Mapping[str, Any]]]] = None,
               channels: Optional[int] = None) -> ImageSplit:
    """Concatenate the sources of ``splits[split]`` into one :class:`ImageSplit`.

    Args:
        split: a key of ``splits``.
        root: not used (each source names its own ``root``); must be None.
        image_size: side S of every image; sources get it as their ``image_size`` and images of
            another size are resized.
        seed: passed to sources without their own ``seed``; also seeds ``max_per_class``.
        splits: split name -> list of sources. A source is a mapping with ``name`` and
            ``split`` (a registered data set and its split) and optionally ``domain`` (its
            name, default the data set's; unique within a split), ``classes`` (labels or class
            names to keep, in that order), ``max_per_class`` (random subset of each class),
            ``root``, ``seed`` and ``options`` (the loader's own options).
        channels: 1 or 3 for every image (default: 3 if any source has colour, else 1).

    Returns:
        ImageSplit with images (N, S, S) or (N, S, S, 3), global labels (source after source),
        class names ``"<domain>/<class>"`` and meta ``domains`` (N,) int64, ``domain_names``,
        ``class_domains`` (C,), ``sources`` and every per-class meta list of the sources
        (None for classes of sources that lack it, e.g. ``alphabets``).
    """
    if root is not None:
        raise ValueError("data set 'multi' takes no data.root: give each source its own root")
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError("data set 'multi' needs data.options.splits: {split name: [{name: ..., "
                         "split: ...}, ...]}; see fewshot/data/multi.py")
    if split not in splits:
        raise ValueError(f"data set 'multi' has no split {split!r}; data.options.splits defines "
                         f"{', '.join(map(str, splits))}")
    if channels not in (None, 1, 3):
        raise ValueError(f"data set 'multi': channels must be 1 or 3 (or unset), got {channels!r}")
    sources = splits[split]
    if not isinstance(sources, Sequence) or isinstance(sources, str) or not sources:
        raise ValueError(f"data.options.splits.{split} must be a non-empty list of sources")
    loaded, names = [], []
    for i, raw in enumerate(sources):
        src = _check_source(raw, f"data.options.splits.{split}[{i}]")
        kwargs = dict(src.get("options", {}))
        if channels is not None:
            kwargs["channels"] = channels
        part = load_split(src["name"], src["split"], root=src.get("root"), image_size=image_size,
                          seed=src.get("seed", seed), **kwargs)
        domain = str(src.get("domain", src["name"]))
        if domain in names:
            raise ValueError(f"data.options.splits.{split}: two sources are domain {domain!r}; give "
                             "them distinct `domain` names")
        names.append(domain)
        loaded.append((src, part))
    want = channels or (3 if any(p.images.ndim == 4 for _, p in loaded) else 1)
    return _combine(split, loaded, names, image_size, want, seed)


def _combine(split: str, loaded, names: List[str], size: int, channels: int, seed: int) -> ImageSplit:
    images, labels, domains, class_names, class_domains, described = [], [], [], [], [], []
    per_class: Dict[str, list] = {}
    for d, (src, part) in enumerate(loaded):
        where = f"data.options.splits.{split}[{d}]"
        keep = _select_classes(part, src.get("classes"), where)
        rng = np.random.default_rng([seed, d])
        picked = _pick(part.labels, keep, src.get("max_per_class"), rng)
        index = np.concatenate(picked)
        chosen = match_channels(ImageSplit(np.asarray(part.images[index]), part.labels[index],
                                           part.class_names, part.name), channels)
        images.append(_to_shape(chosen.images, size, channels))
        first = len(class_names)
        labels.append(np.repeat(np.arange(first, first + len(keep)), [len(p) for p in picked]))
        domains.append(np.full(len(index), d, dtype=np.int64))
        class_names += [f"{names[d]}/{part.class_names[c]}" for c in keep]
        class_domains += [d] * len(keep)
        for key, values in part.meta.items():
            if not isinstance(values, (str, bytes)) and hasattr(values, "__len__") \
                    and len(values) == part.num_classes:
                per_class.setdefault(key, [None] * first)
                per_class[key] += [_plain(values[c]) for c in keep]
        for key in per_class:
            per_class[key] += [None] * (len(class_names) - len(per_class[key]))
        described.append({"name": src["name"], "split": src["split"], "domain": names[d],
                          "classes": len(keep), "images": int(len(index))})
    meta = {**per_class, "domains": np.concatenate(domains), "domain_names": names,
            "class_domains": np.asarray(class_domains, dtype=np.int64), "sources": described}
    return ImageSplit(images=np.concatenate(images), labels=np.concatenate(labels).astype(np.int64),
                      class_names=class_names, name=f"multi/{split}", meta=meta)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value

"""Write a cache folder: decode each image once into a uint8 ``.npy`` on disk, atomically.

Images go straight into a memory-mapped ``.npy`` opened for writing, chunk by chunk, so building
a large split never holds more than one chunk of decoded images in memory (array sources such
as pickles are of course already in memory while they are read).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

import numpy as np
from tqdm.auto import tqdm

from ..atomic import allocate_file, atomic_write_text, publish_folder
from .base import ImageSplit
from .cache import FORMAT, CacheSpec, Collected, cache_root, is_valid, open_cache, report_skipped
from .errors import CorruptImageError
from .images import to_array
from .options import LoadOptions

CHUNK = 512


def _clean_stale(parent: Path, name: str) -> None:
    """Remove temporary folders left by builds whose process is gone."""
    for old in parent.glob(f".{name}.old-*"):
        shutil.rmtree(old, ignore_errors=True)
    for tmp in parent.glob(f".{name}.tmp-*"):
        try:
            os.kill(int(tmp.name.split(".tmp-")[1].split("-")[0]), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue


def _decoded(found: Collected, spec: CacheSpec, options: LoadOptions
             ) -> Iterator[Tuple[int, object]]:
    """(index, uint8 image or CorruptImageError) for every image, in source order."""
    size, ch, crop, rs = spec.image_size, spec.channels, spec.crop, spec.resample
    if found.batches is not None:
        i = 0
        for batch in found.batches():
            for img in batch:
                yield i, to_array(img, size, ch, crop, rs)
                i += 1
        return

    def one(item):
        try:
            return to_array(found.decode(item), size, ch, crop, rs)
        except CorruptImageError as err:  # returned, not raised: the writer decides (skip or stop)
            where = found.describe(item)
            return err if where in str(err) else CorruptImageError(f"{err} ({where})")

    items = found.items
    with ThreadPoolExecutor(options.threads()) as pool:
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            for j, img in enumerate(pool.map(one, chunk)):
                yield start + j, img


def write_cache(folder: Path, spec: CacheSpec, found: Collected, options: LoadOptions,
                seconds_listing: float = 0.0) -> Path:
    """Decode every image of ``found`` into a new cache folder for ``spec``.

    Raises:
        CorruptImageError: an image cannot be decoded and ``options.skip_corrupt`` is False
            (the message names the file and the option that skips it).
        ValueError: the split has no images.
    """
    labels = np.asarray(found.labels, dtype=np.int64)
    n = len(labels)
    if n == 0:
        raise ValueError(f"{spec.dataset}/{spec.split}: no images found under {spec.source}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(folder.parent, folder.name)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    start = time.perf_counter()
    shape = (spec.image_size, spec.image_size) + (() if spec.channels == 1 else (3,))
    try:
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(n,) + shape)
        allocate_file(tmp / "images.npy", images.offset)
        kept: List[int] = []
        skipped: List[str] = []
        bar = tqdm(total=n, desc=f"caching {spec.dataset}/{spec.split}", disable=None if options.progress else True,
                   leave=False)
        for i, img in _decoded(found, spec, options):
            bar.update(1)
            if isinstance(img, CorruptImageError):
                if not options.skip_corrupt:
                    raise CorruptImageError(
                        f"{spec.dataset}/{spec.split}: {img}. Replace the file, or leave such files out "
                        "with the loader option skip_corrupt: `fewshot data prepare --skip-corrupt`, "
                        "`fewshot eval/benchmark --data-option skip_corrupt=true` (benchmark: "
                        f"--data-option {spec.dataset}.skip_corrupt=true), or data.options.skip_corrupt=true "
                        "in a training config")
                skipped.append(found.describe(found.items[i]))
                continue
            images[len(kept)] = img
            kept.append(i)
        bar.close()
        if not kept:
            raise CorruptImageError(f"{spec.dataset}/{spec.split}: none of the {n} images could be "
                                    f"decoded (first: {skipped[0]})")
        images.flush()
        del images
        if skipped:
            _shrink(tmp / "images.npy", len(kept), shape)
        np.save(tmp / "labels.npy", labels[np.asarray(kept, dtype=np.int64)])
        manifest = {"format": FORMAT, "key": spec.digest(), "dataset": spec.dataset,
                    "split": spec.split, "source": spec.source, "layout": spec.layout,
                    "image_size": spec.image_size, "channels": spec.channels, "crop": spec.crop,
                    "resample": spec.resample, "extra": spec.extra, "count": len(kept),
                    "classes": len(found.class_names), "class_names": list(found.class_names),
                    "n_skipped": len(skipped), "skipped": skipped, "meta": found.meta,
                    "seconds": round(seconds_listing + time.perf_counter() - start, 2),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write_text(tmp / "manifest.json", json.dumps(manifest, indent=1, default=str))
        publish_folder(tmp, folder, lambda f: is_valid(f, spec))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report_skipped(spec, skipped)
    return folder


def _shrink(path: Path, count: int, shape: tuple) -> None:
    """Rewrite ``path`` keeping only its first ``count`` images (after skipped files)."""
    src = np.load(path, mmap_mode="r")
    out_path = path.with_name("images.kept.npy")
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.uint8, shape=(count,) + shape)
    allocate_file(out_path, out.offset)
    for s in range(0, count, 4096):
        out[s:s + 4096] = src[s:min(count, s + 4096)]
    out.flush()
    del out, src
    os.replace(out_path, path)


def cached_split(spec: CacheSpec, collect: Callable[[], Collected], options: LoadOptions) -> ImageSplit:
    """Open the cache for ``spec``, building it from ``collect()`` first when missing or asked to."""
    folder = spec.folder(cache_root(options))
    if options.rebuild or not is_valid(folder, spec):
        start = time.perf_counter()
        found = collect()
        write_cache(folder, spec, found, options, time.perf_counter() - start)
    return open_cache(folder)

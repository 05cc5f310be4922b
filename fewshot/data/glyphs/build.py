"""Build the glyphs benchmark once and cache it as uint8 arrays plus a manifest.

Cache folder ``<root>/glyphs-<S>px-seed<seed>[-<hash>]`` (the hash only when options differ
from the defaults) holds ``images.npy`` (N, S, S) uint8, ``labels.npy`` (N,) int64 class ids,
``splits.json`` and ``manifest.json``. Classes are stored background alphabets first, then
validation, then evaluation, each class's instances contiguous, so a split is one slice of
the memory-mapped array. The folder is written under a temporary name and renamed at the
end: an interrupted build never leaves a folder that looks valid.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from ...atomic import allocate_file, publish_folder
from ..paths import PathLike, resolve_data_dir
from . import options as opt
from .fonts import discover_fonts
from .render import render_instances
from .select import GlyphClass, select_characters
from .splits import SPLITS, split_alphabets


def _render_class(args):
    """Worker: all instances of one class (module-level so process pools can pickle it)."""
    cls, paths, n, size, knobs, seed = args
    rng = np.random.default_rng([seed, cls.codepoint])
    return render_instances(cls.char, paths, n, size, knobs, rng, cls.frame)


def _clean_stale_temps(root: Path, name: str) -> None:
    """Remove temp folders of builds whose process is gone (killed, crashed)."""
    for old in root.glob(f".{name}.old-*"):
        shutil.rmtree(old, ignore_errors=True)
    for tmp in root.glob(f".{name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 2)[-2])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue


def build_glyphs(root: Optional[PathLike] = None, image_size: int = 28, seed: int = 0,
                 instances: int = 20, alphabets: Optional[Sequence[str]] = None,
                 max_chars_per_alphabet: Optional[int] = None, force: bool = False,
                 progress: bool = True, **knobs) -> Path:
    """Build (or find) the glyphs benchmark and return its cache folder.

    Args:
        root: data folder (default :func:`fewshot.data.paths.default_data_dir`).
        image_size: side S of the square images.
        seed: the build's seed; the same seed and options give byte-identical arrays.
        instances: images per character.
        alphabets: alphabet names for a subset (None: all, see :mod:`.alphabets`).
        max_chars_per_alphabet: cap per alphabet, for small subsets.
        force: rebuild even if a valid cache exists.
        progress: show a tqdm bar.
        **knobs: rendering knobs (:class:`.render.RenderKnobs`: ``difficulty``, ``rotation``,
            ``elastic``, ...), selection knobs (``fonts``, ``min_fonts``, ``diacritics``,
            ``similarity``, ``min_extent``) and ``workers`` (processes; output does not
            depend on it).

    Returns:
        The cache folder.

    Raises:
        ValueError: a bad option, named in the message.
    """
    workers = knobs.pop("workers", None)
    o = opt.resolve(image_size, seed, instances, alphabets, max_chars_per_alphabet, knobs)
    root = resolve_data_dir(root)
    folder = root / opt.folder_name(o)
    if not force and opt.is_valid_cache(folder, o):
        return folder
    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    _clean_stale_temps(root, folder.name)
    fonts = discover_fonts(o["select"]["fonts"])
    sel = {k: v for k, v in o["select"].items() if k != "fonts"}
    chosen = select_characters(fonts, o["alphabets"], o["max_chars_per_alphabet"], **sel)
    present = list(dict.fromkeys(c.alphabet for c in chosen))
    splits = split_alphabets(present)
    classes: List[GlyphClass] = [c for s in SPLITS for a in splits[s] for c in chosen
                                 if c.alphabet == a]
    n, size = o["instances"], o["image_size"]
    tmp = root / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(len(classes) * n, size, size))
        allocate_file(tmp / "images.npy", images.offset)  # a full disk: ENOSPC now, not SIGBUS later
        knob_obj = opt.render_knobs(o)
        jobs = [(c, [fonts[i].path for i in c.fonts], n, size, knob_obj, o["seed"])
                for c in classes]
        _run(jobs, images, n, workers, progress)
        images.flush()
        del images
        labels = np.repeat(np.arange(len(classes), dtype=np.int64), n)
        np.save(tmp / "labels.npy", labels)
        split_info = _split_info(splits, classes)
        (tmp / "splits.json").write_text(json.dumps(split_info, indent=1))
        manifest = opt.manifest(o, fonts, classes, split_info,
                                round(time.perf_counter() - start, 2))
        # The manifest is written last: its presence marks a complete build.
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
        publish_folder(tmp, folder, lambda f: opt.is_valid_cache(f, o))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _die_with_parent() -> None:
    """Pool workers get SIGTERM when the building process dies (even by SIGKILL), instead of
    sleeping forever (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run(jobs, images, n: int, workers: Optional[int], progress: bool) -> None:
    from tqdm.auto import tqdm

    if workers is None:  # processes only pay off for big builds
        workers = min(2, os.cpu_count() or 1) if len(jobs) >= 200 else 1
    bar = tqdm(total=len(jobs), desc="building glyphs", unit="char", disable=None if progress else True)
    try:
        if workers <= 1:
            results = map(_render_class, jobs)
            for i, arr in enumerate(results):
                images[i * n:(i + 1) * n] = arr
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent) as pool:
                for i, arr in enumerate(pool.map(_render_class, jobs, chunksize=16)):
                    images[i * n:(i + 1) * n] = arr
                    bar.update()
    finally:
        bar.close()


def _split_info(splits, classes: List[GlyphClass]) -> dict:
    info, start = {}, 0
    for s in SPLITS:
        count = sum(c.alphabet in splits[s] for c in classes)
        info[s] = {"alphabets": splits[s], "classes": [start, start + count]}
        start += count
    return info

"""Small helpers shared by the loaders: where the data is, which files are images."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .cache import Collected
from .errors import DataNotFoundError
from .images import open_image
from .paths import PathLike, default_data_dir

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def resolve_root(root: Optional[PathLike], default_name: str) -> Path:
    """``root`` expanded, or ``<default data dir>/<default_name>`` when not given."""
    if root is None or str(root) == "":
        return default_data_dir() / default_name
    return Path(root).expanduser().resolve()


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path) -> List[Path]:
    """Image files directly inside ``folder``, sorted by name (hidden files skipped)."""
    return sorted(p for p in folder.iterdir() if is_image(p))


def class_folders(folder: Path) -> List[Path]:
    """Sub-folders of ``folder``, sorted by name (hidden ones skipped)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def own_channels(folder: Path, classes: int = 16, per_class: int = 2) -> int:
    """The channels of ``folder/<class>/<image>``'s own images: 1 when every probed image is grey
    (PIL mode L, 1, LA, I, I;16, F), else 3. Probes the first ``per_class`` images of up to
    ``classes`` class folders spread over the sorted list (headers only, nothing decoded);
    unreadable files are left to the decoder, which names them."""
    from PIL import Image

    folders = class_folders(folder)
    picks = sorted({int(i) for i in np.linspace(0, len(folders) - 1, min(classes, len(folders)))}) \
        if folders else []
    seen = 0
    for i in picks:
        for path in list_images(folders[i])[:per_class]:
            try:
                with Image.open(path) as img:
                    mode = img.mode
            except (OSError, SyntaxError, ValueError):
                continue
            if mode not in GREY_MODES:
                return 3
            seen += 1
    return 1 if seen else 3


def decode_file(size_hint: int):
    """A ``decode`` callable for :class:`Collected` whose items are image paths."""
    return lambda path: open_image(path, size_hint)


def from_file_lists(files_per_class: Sequence[Tuple[str, Sequence[Path]]], size_hint: int,
                    meta: Optional[Dict] = None) -> Collected:
    """Collected for classes given as (name, image paths), label = position in the sequence."""
    items: List[Path] = []
    labels: List[int] = []
    for c, (_, files) in enumerate(files_per_class):
        items.extend(files)
        labels.extend([c] * len(files))
    return Collected(labels=np.asarray(labels, dtype=np.int64),
                     class_names=[name for name, _ in files_per_class], items=items,
                     decode=decode_file(size_hint), meta=meta or {})


def image_folder(folder: Path, classes: Optional[Sequence[str]] = None, size_hint: int = 0,
                 meta: Optional[Dict] = None) -> Collected:
    """``folder/<class>/<image>`` (torchvision's ImageFolder convention), classes sorted by name.

    Args:
        classes: only these class folders, in this order (default: all, sorted).
    """
    names = list(classes) if classes is not None else [p.name for p in class_folders(folder)]
    missing = [c for c in names if not (folder / c).is_dir()]
    if missing:
        raise DataNotFoundError(f"{len(missing)} class folder(s) missing under {folder}: "
                                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return from_file_lists([(c, list_images(folder / c)) for c in names], size_hint, meta)

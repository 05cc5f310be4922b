"""`fewshot data show NAME`: a sheet of sample images of any registered data set, drawn as stored.

One row per class (its name on the left), a few images of it side by side; grey images are drawn
with 0 = black and 255 = white, exactly as the arrays hold them (glyphs and Fashion-MNIST are
light on black), RGB images as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .paths import PathLike
from .registry import DATASETS, default_test_split, load_split


def sample_sheet(images, labels: np.ndarray, n_classes: int, per_class: int, seed: int = 0):
    """The classes and image indices of a sheet: ``n_classes`` classes (seeded, shown in label
    order), the first ``per_class`` images of each in a seeded order.

    Returns:
        (classes (R,), index (R, K) with -1 where a class has fewer than K images).
    """
    present = np.unique(labels)
    rng = np.random.default_rng(seed)
    classes = np.sort(rng.choice(present, min(n_classes, len(present)), replace=False))
    index = np.full((len(classes), per_class), -1, np.int64)
    for r, c in enumerate(classes):
        members = np.flatnonzero(labels == c)
        picks = np.sort(rng.permutation(members)[:per_class])
        index[r, :len(picks)] = picks
    return classes, index


def show_dataset(name: str, out_png: PathLike, split: Optional[str] = None, root: Optional[PathLike] = None,
                 image_size: Optional[int] = None, seed: int = 0, n_classes: int = 8, per_class: int = 6,
                 options: Optional[Dict[str, Any]] = None) -> Path:
    """Draw ``n_classes`` classes x ``per_class`` images of one split of data set ``name``.

    Args:
        split: default the data set's test split (its novel classes).
        root, image_size, options: as for :func:`fewshot.data.load_split` (image_size: the
            loader's default when None).

    Returns:
        The PNG path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if n_classes < 1 or per_class < 1:
        raise ValueError(f"data show: classes and images per class must be >= 1, got {n_classes}, {per_class}")
    DATASETS.get(name)  # an unknown name: the error lists the data sets
    split = split or default_test_split(name)
    kwargs = dict(options or {})
    if image_size is not None:
        kwargs["image_size"] = image_size
    data = load_split(name, split, root=root, **kwargs)
    classes, index = sample_sheet(data.images, np.asarray(data.labels), n_classes, per_class, seed)
    shape = tuple(data.images.shape[1:])
    h, w = shape[:2]
    gap = max(2, h // 8)
    rgb = len(shape) == 3
    rows, cols = index.shape
    sheet = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap) + ((3,) if rgb else ()), 128, np.uint8)
    for r in range(rows):
        for k in range(cols):
            if index[r, k] >= 0:
                y, x = r * (h + gap), k * (w + gap)
                sheet[y:y + h, x:x + w] = np.asarray(data.images[int(index[r, k])])
    names = [str(data.class_names[c]) if c < len(data.class_names) else str(c) for c in classes]
    dpi, title_in = 100, 0.45
    label_in = min(3.0, 0.25 + 0.075 * max(len(n) for n in names))  # inches for the class names
    zoom = max(1.0, 48 / h)  # small images at least 48 px each
    w_in, h_in = sheet.shape[1] * zoom / dpi, sheet.shape[0] * zoom / dpi
    fig = Figure(figsize=(max(w_in + label_in + 0.1, 4.5), h_in + title_in + 0.1), dpi=dpi)
    FigureCanvasAgg(fig)
    total_w, total_h = fig.get_size_inches()
    ax = fig.add_axes((label_in / total_w, 0.05 / total_h, w_in / total_w, h_in / total_h))
    if rgb:
        ax.imshow(sheet, interpolation="nearest")
    else:  # as stored: 0 black, 255 white
        ax.imshow(sheet, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([r * (h + gap) + h / 2 for r in range(rows)])
    ax.set_yticklabels([n if len(n) <= 38 else n[:36] + "..." for n in names], fontsize=8)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.tick_params(length=0)
    size = "x".join(str(s) for s in shape)
    fig.suptitle(f"{data.name}: {len(data)} images, {data.num_classes} classes, {size} uint8 "
                 f"({rows} classes shown)", fontsize=9, x=0.5, y=1 - 0.06 / total_h, va="top")
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out


__all__ = ["sample_sheet", "show_dataset"]

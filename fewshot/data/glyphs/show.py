"""A PNG contact sheet of the glyphs benchmark: one row per alphabet."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..paths import PathLike
from .load import load_glyphs


def show_glyphs(out_png: PathLike, root: Optional[PathLike] = None, image_size: int = 28,
                seed: int = 0, chars_per_alphabet: int = 8, instances: int = 4,
                **build_kwargs) -> Path:
    """Draw ``chars_per_alphabet`` characters x ``instances`` images for every alphabet.

    Builds the benchmark first if needed. Each row is one alphabet, labelled with its name
    and split; within a row, each character's instances sit side by side, characters are
    separated by a gap. Drawn as stored: white ink on black (what the models see).

    Args:
        out_png: file to write (parent folders are created).
        root, image_size, seed, **build_kwargs: which benchmark (see :func:`load_glyphs`);
            since ``instances`` here means images shown, the build's own ``instances``
            option is spelled ``build_instances``.
        chars_per_alphabet: characters per row, evenly spaced over the alphabet.
        instances: images per character (at most the built number).

    Returns:
        The PNG path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if chars_per_alphabet < 1 or instances < 1:
        raise ValueError(f"chars_per_alphabet and instances must be >= 1, got "
                         f"{chars_per_alphabet}, {instances}")
    if "build_instances" in build_kwargs:
        build_kwargs["instances"] = build_kwargs.pop("build_instances")
    data = load_glyphs("all", root=root, image_size=image_size, seed=seed, **build_kwargs)
    per = data.meta["instances"]
    k = min(instances, per)
    alphabets = list(dict.fromkeys(data.meta["alphabets"]))
    split_of = {a: s for s, names in data.meta["splits"].items() for a in names}
    s, gap = image_size, max(2, image_size // 4)
    width = chars_per_alphabet * (k * s + gap) - gap
    sheet = np.full((len(alphabets) * (s + gap) - gap, width), 96, np.uint8)  # grey gaps
    for row, alpha in enumerate(alphabets):
        cls = [c for c, a in enumerate(data.meta["alphabets"]) if a == alpha]
        picks = [cls[(2 * i + 1) * len(cls) // (2 * chars_per_alphabet)]
                 for i in range(min(chars_per_alphabet, len(cls)))]
        for j, c in enumerate(picks):
            for t in range(k):
                x = j * (k * s + gap) + t * s
                sheet[row * (s + gap):row * (s + gap) + s, x:x + s] = data.images[c * per + t]
    dpi, label_in, title_in = 100, 2.5, 0.4  # inches kept for row labels and the title
    zoom = max(1.0, 56 / image_size)  # small images are drawn at least 56 px per glyph
    w_in, h_in = width * zoom / dpi, sheet.shape[0] * zoom / dpi
    fig = Figure(figsize=(w_in + label_in + 0.1, h_in + title_in + 0.1), dpi=dpi)
    FigureCanvasAgg(fig)
    total_w, total_h = fig.get_size_inches()
    ax = fig.add_axes((label_in / total_w, 0.05 / total_h, w_in / total_w, h_in / total_h))
    ax.imshow(sheet, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([r * (s + gap) + s / 2 for r in range(len(alphabets))])
    ax.set_yticklabels([f"{a} ({split_of.get(a, '?')[:4]})" for a in alphabets], fontsize=9)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.tick_params(length=0)
    ax.set_title(f"glyphs {image_size}px seed {seed}: {data.num_classes} characters, "
                 f"{len(alphabets)} alphabets", fontsize=10)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out


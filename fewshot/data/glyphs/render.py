"""Draw one character many times, each a different "hand": font, stroke width, affine, elastic.

Everything random comes from the ``numpy.random.Generator`` passed in, so a class's images
depend only on (seed, code point, knobs, fonts, image size), never on worker scheduling.
Images are white ink (255) on black (0), like MNIST.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

# Render at least this many pixels per side, then box-average down: smooth, alias-free edges.
_MIN_RENDER_PX = 56


@dataclass(frozen=True)
class RenderKnobs:
    """How much each instance is distorted. Amplitudes are at ``difficulty=1``.

    Attributes:
        difficulty: multiplies every amplitude below (0 = clean glyphs, only fonts vary).
        rotation: max rotation, degrees (uniform in +-).
        shear: max horizontal shear factor.
        scale: max log-scale jitter (uniform in +-; 0.15 ~ +-16%).
        aspect: max log aspect-ratio jitter.
        translate: max shift, fraction of the image side.
        elastic: std of the smooth displacement field, fraction of the image side.
        elastic_grid: control points per side of that field (more = wigglier).
        stroke: probability of thickening or thinning the strokes.
        fill: longest side of the undistorted glyph, fraction of the image side.
    """

    difficulty: float = 1.0
    rotation: float = 12.0
    shear: float = 0.15
    scale: float = 0.12
    aspect: float = 0.10
    translate: float = 0.05
    elastic: float = 0.025
    elastic_grid: int = 4
    stroke: float = 0.5
    fill: float = 0.72

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"glyph knob {name} must be a finite number >= 0, got {value!r}")
        if not 0 < self.fill <= 1:
            raise ValueError(f"glyph knob fill must lie in (0, 1], got {self.fill}")
        if int(self.elastic_grid) != self.elastic_grid or self.elastic_grid < 2:
            raise ValueError(f"glyph knob elastic_grid must be an integer >= 2, got {self.elastic_grid}")


@functools.lru_cache(maxsize=512)
def pil_font(path: str, size: int):
    """A PIL font, loaded once per process (basic layout: one code point, no shaping)."""
    from PIL import ImageFont

    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def draw_glyph(path: str, size: int, char: str, pad: int = 2) -> np.ndarray:
    """Rasterise ``char`` at ``size`` px, cropped to its ink plus ``pad`` px.

    Returns:
        float32 array (h, w) in [0, 1]; shape (0, 0) if the glyph has no ink.
    """
    from PIL import Image, ImageDraw

    font = pil_font(path, size)
    left, top, right, bottom = font.getbbox(char)
    w, h = max(right - left, 1) + 2 * pad, max(bottom - top, 1) + 2 * pad
    canvas = Image.new("L", (w, h), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), char, font=font, fill=255)
    ink = canvas.getbbox()
    if ink is None:
        return np.zeros((0, 0), np.float32)
    x0, y0, x1, y1 = ink
    arr = np.asarray(canvas, dtype=np.float32)[max(y0 - pad, 0):y1 + pad, max(x0 - pad, 0):x1 + pad]
    return arr / 255.0


@functools.lru_cache(maxsize=64)
def _smooth_basis(n: int, grid: int) -> np.ndarray:
    """(n, grid) Gaussian-bump weights, rows summing to 1: turns grid noise into a smooth field."""
    centers = np.linspace(0, n - 1, grid)
    width = (n - 1) / (grid - 1)
    w = np.exp(-0.5 * ((np.arange(n)[:, None] - centers[None, :]) / width) ** 2)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float64)


def _stroke(src: np.ndarray, rng: np.random.Generator, p: float, px: float) -> np.ndarray:
    """Thicken (likelier) or thin the strokes with probability ``p``; ``px`` src px per out px."""
    if rng.random() >= p:
        return src
    if rng.random() < 0.65:
        k = max(2, int(round(px * rng.uniform(0.6, 1.4))))
        return ndimage.grey_dilation(src, size=(k, k))
    k = max(2, int(round(px * 0.6)))
    thin = ndimage.grey_erosion(src, size=(k, k))
    # Thin fonts can vanish under erosion: keep the original when most ink is gone.
    return thin if thin.sum() > 0.4 * src.sum() else src


def render_instances(char: str, font_paths: Sequence[str], n: int, image_size: int,
                     knobs: RenderKnobs, rng: np.random.Generator) -> np.ndarray:
    """``n`` distorted images of ``char``, cycling through ``font_paths`` in a random order.

    Args:
        char: one character.
        font_paths: fonts that cover it (at least one; the first is the fallback).
        n: number of instances.
        image_size: output side S.
        knobs: distortion amplitudes.
        rng: the class's generator (consumed).

    Returns:
        uint8 array (n, S, S), ink 255 on background 0.
    """
    ss = max(1, math.ceil(_MIN_RENDER_PX / image_size))
    c = image_size * ss  # supersampled canvas side
    d = knobs.difficulty
    order = rng.permutation(len(font_paths))
    basis = _smooth_basis(c, int(knobs.elastic_grid))
    centre = (c - 1) / 2.0
    grid = np.mgrid[0:c, 0:c].astype(np.float64) - centre  # (2, c, c): y, x
    out = np.empty((n, image_size, image_size), np.uint8)
    for i in range(n):
        src = draw_glyph(font_paths[order[i % len(order)]], c, char, pad=max(2, ss * 2))
        if src.size == 0 or src.max() < 0.3:
            src = draw_glyph(font_paths[0], c, char, pad=max(2, ss * 2))
        h, w = src.shape
        s0 = knobs.fill * c / max(h - 2 * ss * 2, w - 2 * ss * 2, 1)  # src px -> out px
        src = _stroke(src, rng, min(1.0, knobs.stroke * d), ss / s0)
        theta = math.radians(rng.uniform(-1, 1) * knobs.rotation * d)
        shear = rng.uniform(-1, 1) * knobs.shear * d
        scale = s0 * math.exp(rng.uniform(-1, 1) * knobs.scale * d)
        aspect = math.exp(rng.uniform(-1, 1) * knobs.aspect * d)
        shift = rng.uniform(-1, 1, size=2) * knobs.translate * d * c
        field = rng.normal(0.0, knobs.elastic * d * c, size=(2, basis.shape[1], basis.shape[1]))
        # Forward map src -> out: out = A @ (src - src_centre) + shift, A = R @ Shear @ Scale.
        rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        a = rot @ np.array([[1.0, 0.0], [shear, 1.0]]) @ np.diag([scale / aspect, scale * aspect])
        a_inv = np.linalg.inv(a)  # rows/cols act on (y, x)
        disp = basis @ field @ basis.T  # (2, c, c) smooth displacement field
        pts = (grid + disp).reshape(2, -1) - shift[:, None]
        src_pts = a_inv @ pts + np.array([[(h - 1) / 2.0], [(w - 1) / 2.0]])
        warped = ndimage.map_coordinates(src, src_pts, order=1, mode="constant", cval=0.0)
        img = warped.reshape(image_size, ss, image_size, ss).mean(axis=(1, 3))
        out[i] = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out

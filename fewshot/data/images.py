"""Decode one image and bring it to the cache's fixed shape: uint8, size x size, 1 or 3 channels.

Every loader goes through :func:`to_array`, so resizing, cropping and colour conversion are the
same for all data sets and are recorded once in the cache manifest.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

from .errors import CorruptImageError

RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS,
            "nearest": Image.NEAREST}
# "none": squash the whole image to size x size (miniImageNet tools, Omniglot).
# "center": squash to int(1.15 * size), then take the central size x size (the test transform of
# Chen et al.'s "Closer Look" and of BSCD-FSL, for CUB and the cross-domain targets).
CROPS = ("none", "center")


def open_image(src: Union[str, Path, bytes], size_hint: int = 0) -> Image.Image:
    """Open and fully decode an image file or encoded bytes.

    Args:
        src: a path, or the encoded bytes of a PNG/JPEG.
        size_hint: final side length; large JPEGs are then decoded at a reduced scale
            (still at least twice the final size, so the resize keeps its anti-aliasing).

    Raises:
        CorruptImageError: naming the file, when it is missing, truncated or not an image.
    """
    name = f"{len(src)} encoded bytes" if isinstance(src, (bytes, bytearray)) else str(src)
    try:
        img = Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)
        if size_hint and img.format == "JPEG":
            img.draft(img.mode, (2 * size_hint, 2 * size_hint))
        img.load()  # decode now, so that a truncated file fails here and names itself
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptImageError(f"cannot decode image {name}: {err}") from None
    return img


def as_uint8(arr: np.ndarray) -> np.ndarray:
    """Pixels of any numeric dtype as uint8, scaled, never wrapped around or cast to black.

    Floats in [0, 1] are scaled by 255, floats in [0, 255] rounded; uint16 / larger integers are
    scaled from their range (0-65535) when they exceed 255; booleans become 0 / 255.

    Raises:
        ValueError: NaN or infinite pixels, negative values, or floats above 255 (what they
            mean cannot be guessed).
    """
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"pixels of dtype {arr.dtype} are not numbers")
    if arr.size == 0:
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError("image has NaN or infinite pixels")
    low, high = float(arr.min()), float(arr.max())
    if low < 0:
        raise ValueError(f"image has negative pixels (min {low:g}); expected 0-255 or 0-1")
    if np.issubdtype(arr.dtype, np.floating):
        if high > 255:
            raise ValueError(f"float pixels up to {high:g}: expected 0-1 or 0-255")
        scale = 255.0 if high <= 1.0 else 1.0
    else:
        scale = 1.0 if high <= 255 else 255.0 / 65535.0 if high <= 65535 else 255.0 / high
    return np.clip(np.rint(arr.astype(np.float64) * scale), 0, 255).astype(np.uint8)


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    if img.mode == "F":  # float TIFF: 0-1 or 0-255, scaled (PIL's convert would clip to black)
        img = Image.fromarray(as_uint8(np.asarray(img)), "L")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey (some X-ray PNGs): scale to 8 bits instead of letting PIL clip at 255.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    return img.convert("L" if channels == 1 else "RGB")


def to_array(img: Union[Image.Image, np.ndarray], size: int, channels: int, crop: str = "none",
             resample: str = "bilinear") -> np.ndarray:
    """One image -> uint8 array (size, size) for ``channels == 1`` or (size, size, 3).

    Args:
        img: a PIL image, or an array (H, W) or (H, W, C) with C in 1, 3, 4 in RGB order (uint8;
            other dtypes are scaled by :func:`as_uint8`).
        size: output side length in pixels.
        channels: 1 (grey, ITU-R 601 luma as PIL computes it) or 3 (RGB; grey is replicated).
        crop: one of :data:`CROPS`.
        resample: one of :data:`RESAMPLE`.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
    if isinstance(img, np.ndarray):
        arr = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
        want = (size, size) if channels == 1 else (size, size, 3)
        if arr.dtype == np.uint8 and arr.shape == want and crop == "none":
            return arr  # already the cached shape: no round trip through PIL
        mode = "L" if arr.ndim == 2 else ("RGBA" if arr.shape[-1] == 4 else "RGB")
        img = Image.fromarray(np.ascontiguousarray(as_uint8(arr)), mode)
    img = _to_mode(img, channels)
    filt = RESAMPLE[resample]
    if crop == "center":
        big = int(size * 1.15)
        if img.size != (big, big):
            img = img.resize((big, big), filt)
        off = (big - size) // 2
        img = img.crop((off, off, off + size, off + size))
    elif img.size != (size, size):
        img = img.resize((size, size), filt)
    return np.asarray(img, dtype=np.uint8)

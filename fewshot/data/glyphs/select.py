"""Which characters become classes: covered, visible, distinct, not a mere case variant.

Rules, in order, for each alphabet of :mod:`.alphabets`:
1. the code point's Unicode category is one the alphabet takes (letters for scripts);
2. at least ``min_fonts`` fonts cover it (so instances vary by font);
3. unless ``diacritics=True``, precomposed letters with a canonical decomposition
   (A-grave, ...) are left out: they are the base letter plus a small mark;
4. drawn in its reference font (the first covering font), its ink spans at least
   ``min_extent`` of the em (drops dots, accents and empty glyphs);
5. its size-normalised silhouette is not too similar (IoU >= ``similarity``) to a character
   kept before it. This drops homoglyphs across scripts (Latin A / Greek Alpha / Cyrillic A,
   kept in the earlier alphabet) and lowercase letters that are a scaled copy of their
   capital (o/O, s/S, Cyrillic el/EL), while a/A or Greek alpha/Alpha stay two classes;
6. finally at most ``limit`` (the alphabet's) and ``max_chars_per_alphabet`` characters,
   evenly spaced over what is left.
Only a small probe rendering (48 px) is needed, so selecting takes about a second.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .alphabets import Alphabet, get_alphabets
from .fonts import FontInfo
from .render import draw_glyph

_PROBE_PX = 48
_SILHOUETTE = 20


@dataclass(frozen=True)
class GlyphClass:
    """One character class.

    Attributes:
        alphabet: alphabet name.
        codepoint: Unicode code point.
        fonts: indices (into the font tuple) of the fonts covering it, reference font first.
        frame: the alphabet's frame character (see :class:`.alphabets.Alphabet`).
    """

    alphabet: str
    codepoint: int
    fonts: Tuple[int, ...]
    frame: Optional[str] = None

    @property
    def char(self) -> str:
        return chr(self.codepoint)

    @property
    def unicode_name(self) -> str:
        return unicodedata.name(self.char, f"U+{self.codepoint:04X}")

    @property
    def name(self) -> str:
        return f"{self.alphabet}/U+{self.codepoint:04X}"


def _silhouette(glyph: np.ndarray) -> np.ndarray:
    """Binary (20*20,) mask of the glyph scaled so its longest side fills the square,
    strokes thickened by one pixel."""
    from PIL import Image

    h, w = glyph.shape
    s = _SILHOUETTE / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = np.asarray(Image.fromarray((glyph * 255).astype(np.uint8)).resize(
        (nw, nh), Image.Resampling.BOX), dtype=np.uint8)
    out = np.zeros((_SILHOUETTE, _SILHOUETTE), bool)
    y, x = (_SILHOUETTE - nh) // 2, (_SILHOUETTE - nw) // 2
    out[y:y + nh, x:x + nw] = small >= 96
    # Thickened strokes make the comparison tolerant to stroke weight: a lowercase o drawn
    # at x-height has relatively thicker strokes than O once both are scaled to 20 px.
    out[1:] |= out[:-1].copy()  # 2x2 dilation
    out[:, 1:] |= out[:, :-1].copy()
    return out.ravel()


def _candidates(alpha: Alphabet, fonts: Sequence[FontInfo], min_fonts: int, diacritics: bool):
    for cp in alpha.codepoints():
        ch = chr(cp)
        if unicodedata.category(ch) not in alpha.categories:
            continue
        if not diacritics and unicodedata.decomposition(ch)[:1] not in ("", "<"):
            continue
        covering = tuple(i for i, f in enumerate(fonts) if cp in f.codepoints)
        if len(covering) >= min_fonts:
            yield cp, covering


def _evenly(items: list, k: Optional[int]) -> list:
    if k is None or len(items) <= k:
        return items
    return [items[(2 * i + 1) * len(items) // (2 * k)] for i in range(k)]


def select_characters(fonts: Sequence[FontInfo], alphabets: Optional[Sequence[str]] = None,
                      max_chars_per_alphabet: Optional[int] = None, min_fonts: int = 2,
                      diacritics: bool = False, similarity: float = 0.8,
                      min_extent: float = 0.2, limits: bool = True) -> List[GlyphClass]:
    """The benchmark's classes, alphabet by alphabet (table order), by code point within.

    Args:
        fonts: from :func:`.fonts.discover_fonts`.
        alphabets: alphabet names (None: all).
        max_chars_per_alphabet: extra cap per alphabet (None: only the table's limits).
        min_fonts: fonts that must cover a character.
        diacritics: keep precomposed letters with marks.
        similarity: silhouette IoU at or above which a later character counts as a duplicate.
        min_extent: smallest ink extent, fraction of the em.
        limits: apply the alphabets' own ``limit`` (False: keep every distinct character).

    Raises:
        ValueError: bad options, or a selection with no character at all.
    """
    if max_chars_per_alphabet is not None and max_chars_per_alphabet < 1:
        raise ValueError(f"max_chars_per_alphabet must be >= 1 or None, got {max_chars_per_alphabet}")
    if min_fonts < 1 or not 0 < similarity <= 1 or not 0 <= min_extent < 1:
        raise ValueError(f"need min_fonts >= 1, 0 < similarity <= 1, 0 <= min_extent < 1; got "
                         f"{min_fonts}, {similarity}, {min_extent}")
    alphas = get_alphabets(alphabets)
    key = (tuple(f.path for f in fonts), tuple(a.name for a in alphas), max_chars_per_alphabet,
           min_fonts, diacritics, similarity, min_extent, limits)
    return list(_select_cached(key, tuple(fonts), alphas))


@functools.lru_cache(maxsize=16)
def _select_cached(key, fonts, alphas) -> Tuple[GlyphClass, ...]:
    _, _, cap, min_fonts, diacritics, similarity, min_extent, limits = key
    cands, masks = [], []
    for alpha in alphas:
        for cp, covering in _candidates(alpha, fonts, min_fonts, diacritics):
            glyph = draw_glyph(fonts[covering[0]].path, _PROBE_PX, chr(cp))
            if glyph.size == 0 or max(glyph.shape) < min_extent * _PROBE_PX:
                continue
            if alpha.frame is not None:
                glyph = draw_glyph(fonts[covering[0]].path, _PROBE_PX, chr(cp), alpha.frame)
            cands.append(GlyphClass(alpha.name, cp, covering, alpha.frame))
            masks.append(_silhouette(glyph))
    if not cands:
        raise ValueError(f"no character of {[a.name for a in alphas]} is covered by {min_fonts} of "
                         f"the {len(fonts)} font(s) and visible; lower min_fonts or add fonts")
    m = np.asarray(masks, np.float32)  # (n, 400)
    area = m.sum(axis=1)
    kept: List[int] = []
    kept_masks = np.empty_like(m)  # rows 0..len(kept)-1 in use; greedy, in table order
    for i in range(len(cands)):
        if kept:
            inter = kept_masks[:len(kept)] @ m[i]
            if (inter / np.maximum(area[kept] + area[i] - inter, 1.0)).max() >= similarity:
                continue
        kept_masks[len(kept)] = m[i]
        kept.append(i)
    out: List[GlyphClass] = []
    for alpha in alphas:
        mine = [cands[i] for i in kept if cands[i].alphabet == alpha.name]
        limit = alpha.limit if limits else None
        limit = cap if limit is None else min(limit, cap or limit)
        out.extend(_evenly(mine, limit))
    return tuple(out)

"""Find fonts and read which characters each one covers.

The default font set is the one matplotlib ships (DejaVu Sans / Sans Mono / Serif and STIX
General, four styles each), so the benchmark is the same on every machine with the same
matplotlib. ``fonts="system"`` or ``"all"`` adds what ``fc-list`` finds; that makes a
different (machine-dependent) benchmark, recorded in the manifest and the cache key.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import FrozenSet, Sequence, Tuple, Union

# Math, size-variant, private-use and fallback fonts whose cmaps do not describe real text
# glyphs (LastResort maps every code point to a placeholder box; cm* use TeX encodings).
_EXCLUDED_PREFIXES = ("LastResort", "cm", "STIXNonUni", "STIXSiz", "DejaVuSansDisplay",
                      "DejaVuSerifDisplay")
_REGULAR_STYLES = ("regular", "book", "roman", "medium", "normal")

FontSpec = Union[str, Sequence[str]]


@dataclass(frozen=True)
class FontInfo:
    """One font file and its coverage.

    Attributes:
        path: absolute path of the .ttf/.otf file.
        family: family name from the name table, e.g. ``"DejaVu Sans"``.
        style: subfamily, e.g. ``"Bold Oblique"``.
        codepoints: code points its cmap maps to a glyph.
    """

    path: str
    family: str
    style: str
    codepoints: FrozenSet[int]

    @property
    def label(self) -> str:
        return f"{self.family} {self.style}"

    @property
    def is_regular(self) -> bool:
        return self.style.lower() in _REGULAR_STYLES


def bundled_font_paths() -> Tuple[str, ...]:
    """The usable .ttf files in matplotlib's ``mpl-data/fonts/ttf``, sorted by file name."""
    import importlib.util

    # Locate the package without importing it (importing matplotlib takes half a second).
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return ()
    folder = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"
    return tuple(str(p) for p in sorted(folder.glob("*.ttf"))
                 if not p.name.startswith(_EXCLUDED_PREFIXES))


def system_font_paths() -> Tuple[str, ...]:
    """TrueType/OpenType outline fonts that ``fc-list`` reports (empty without fontconfig)."""
    exe = shutil.which("fc-list")
    if exe is None:
        return ()
    try:
        out = subprocess.run([exe, "--format", "%{file}\n"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    paths = {line.strip() for line in out.splitlines()}
    return tuple(sorted(p for p in paths if p.lower().endswith((".ttf", ".otf"))
                        and not os.path.basename(p).startswith(_EXCLUDED_PREFIXES)))


@functools.lru_cache(maxsize=256)
def read_font(path: str) -> Union[FontInfo, None]:
    """Read a font's names and cmap; None if it is not a usable outline font."""
    logging.getLogger("fontTools").setLevel(logging.ERROR)  # silences odd-timestamp warnings
    from fontTools.ttLib import TTFont, TTLibError

    try:
        font = TTFont(path, lazy=True, fontNumber=0)
        # Synthetic glyph names: reading the real ones (the 'post' table) costs most of the time.
        font.setGlyphOrder([f"g{i}" for i in range(font["maxp"].numGlyphs)])
        cmap = font.getBestCmap()
        outline = "glyf" in font or "CFF " in font or "CFF2" in font
        names = font["name"]
        family = names.getBestFamilyName() or Path(path).stem
        style = names.getBestSubFamilyName() or "Regular"
    except (TTLibError, OSError, KeyError, AssertionError):
        return None
    # Symbol-encoded fonts (platform 3, encoding 0) map private code points; skip them.
    if not cmap or not outline or any(t.platformID == 3 and t.platEncID == 0
                                      for t in font["cmap"].tables):
        return None
    return FontInfo(str(path), str(family), str(style), frozenset(cmap))


def discover_fonts(fonts: FontSpec = "bundled") -> Tuple[FontInfo, ...]:
    """The fonts to draw with, regular styles first, then by family, style and path.

    The first covering font in this order is a character's reference font (the one used to
    decide whether two characters look alike).

    Args:
        fonts: ``"bundled"`` (matplotlib's), ``"system"`` (fc-list), ``"all"`` (both, files
            with the same name counted once), or an explicit list of font file paths.

    Raises:
        ValueError: an unknown keyword, or no usable font at all.
    """
    if isinstance(fonts, str):
        if fonts not in ("bundled", "system", "all"):
            raise ValueError(f"fonts must be 'bundled', 'system', 'all' or a list of font "
                             f"files, got {fonts!r}")
        paths = list(bundled_font_paths()) if fonts in ("bundled", "all") else []
        if fonts in ("system", "all"):
            seen = {os.path.basename(p) for p in paths}
            paths += [p for p in system_font_paths() if os.path.basename(p) not in seen]
    else:
        paths = [str(Path(p).expanduser().resolve()) for p in fonts]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise ValueError(f"font file(s) not found: {missing}")
    infos = [info for info in map(read_font, paths) if info is not None]
    if not infos:
        raise ValueError(f"no usable outline font for fonts={fonts!r}; install matplotlib "
                         "(it ships DejaVu and STIX) or pass font file paths")
    infos.sort(key=lambda f: (not f.is_regular, f.family, f.style, f.path))
    return tuple(infos)


def fonts_fingerprint(fonts: Sequence[FontInfo]) -> str:
    """A short hash of the font files' names and sizes (part of a custom cache key)."""
    h = hashlib.sha256()
    for f in fonts:
        h.update(f"{os.path.basename(f.path)}:{os.path.getsize(f.path)};".encode())
    return h.hexdigest()[:10]

"""glyphs: an Omniglot-shaped few-shot benchmark drawn from fonts, built locally in seconds.

Alphabets are Unicode scripts and symbol blocks (:mod:`.alphabets`), characters are chosen by
font coverage and visual distinctness (:mod:`.select`), each is drawn ``instances`` times with
different fonts, stroke widths, affine and elastic distortions (:mod:`.render`), and the
alphabets are split into background / validation / evaluation (:mod:`.splits`).
"""

from ..base import ImageSplit
from ..paths import default_data_dir
from .alphabets import ALPHABETS, Alphabet, get_alphabets
from .build import build_glyphs
from .fonts import FontInfo, discover_fonts
from .load import load_glyphs
from .options import BUILD_VERSION, folder_name
from .render import RenderKnobs, render_instances
from .select import GlyphClass, select_characters
from .show import show_glyphs
from .splits import SPLITS, split_alphabets

__all__ = [
    "ALPHABETS", "Alphabet", "BUILD_VERSION", "FontInfo", "GlyphClass", "ImageSplit",
    "RenderKnobs", "SPLITS", "build_glyphs", "default_data_dir", "discover_fonts",
    "folder_name", "get_alphabets", "load_glyphs", "render_instances", "select_characters",
    "show_glyphs", "split_alphabets",
]

"""The alphabets of the glyphs benchmark: Unicode scripts and symbol blocks.

Each alphabet is a few code point ranges. Which of its characters end up in the benchmark
depends on the fonts (see :mod:`.select`); ``limit`` keeps huge blocks (Canadian syllabics,
mathematical operators, braille) to an Omniglot-like size by taking evenly spaced characters
from the block's candidates, so no single block dominates the class count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

# Letters (L*) for scripts; symbols, numbers, letters and punctuation for symbol blocks.
SCRIPT_CATEGORIES = ("Lu", "Ll", "Lt", "Lo")
SYMBOL_CATEGORIES = ("Lu", "Ll", "Lt", "Lo", "Nl", "No", "Sm", "Sc", "So", "Po", "Ps", "Pe")


@dataclass(frozen=True)
class Alphabet:
    """One alphabet: a name, code point ranges (inclusive) and what to take from them.

    Attributes:
        name: folder-safe display name, unique.
        ranges: ``((first, last), ...)`` inclusive code point ranges.
        kind: ``"script"`` (letters only) or ``"symbols"``.
        limit: most characters kept, evenly spaced over the candidates; None keeps all.
        frame: a character whose ink box frames every glyph of the alphabet (braille: the
            full cell), for alphabets where position inside the cell is the information.
            None: each glyph is framed by its own ink box.
    """

    name: str
    ranges: Tuple[Tuple[int, int], ...]
    kind: str = "script"
    limit: Optional[int] = 60
    frame: Optional[str] = None

    @property
    def categories(self) -> Tuple[str, ...]:
        return SCRIPT_CATEGORIES if self.kind == "script" else SYMBOL_CATEGORIES

    def codepoints(self):
        for first, last in self.ranges:
            yield from range(first, last + 1)


def _a(name, *ranges, kind="script", limit=60, frame=None):
    return Alphabet(name, tuple(ranges), kind, limit, frame)


# Order matters: when two characters look the same (Latin A, Greek Alpha, Cyrillic A) the one
# in the earlier alphabet is kept.
ALPHABETS: Tuple[Alphabet, ...] = (
    _a("Latin", (0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x00FF), (0x0100, 0x017F)),
    _a("Greek", (0x0370, 0x03FF)),
    _a("Cyrillic", (0x0400, 0x04FF)),
    _a("Armenian", (0x0530, 0x058F)),
    _a("Hebrew", (0x05D0, 0x05EA)),
    _a("Arabic", (0x0620, 0x06FF)),
    _a("Arabic_Presentation_Forms", (0xFE70, 0xFEFF)),
    _a("NKo", (0x07C0, 0x07FF)),
    _a("Lao", (0x0E80, 0x0EFF)),
    _a("Georgian", (0x10A0, 0x10FF), (0x2D00, 0x2D2F)),
    _a("Canadian_Syllabics", (0x1400, 0x167F)),
    _a("Ogham", (0x1680, 0x169F)),
    _a("Tifinagh", (0x2D30, 0x2D7F)),
    _a("Old_Italic", (0x10300, 0x1032F)),
    _a("Latin_Extended-B", (0x0180, 0x024F)),
    _a("IPA_Extensions", (0x0250, 0x02AF)),
    _a("Latin_Extended-CD", (0x2C60, 0x2C7F), (0xA720, 0xA7FF)),
    _a("Cyrillic_Extended", (0x0500, 0x052F), (0xA640, 0xA69F)),
    _a("Mathematical_Fraktur", (0x1D504, 0x1D537), (0x1D56C, 0x1D59F)),
    _a("Mathematical_Script", (0x1D49C, 0x1D4CF), (0x1D4D0, 0x1D503)),
    _a("Letterlike_Symbols", (0x2100, 0x214F), kind="symbols"),
    _a("Number_Forms", (0x2150, 0x218F), kind="symbols"),
    _a("Currency_Symbols", (0x20A0, 0x20CF), (0x0024, 0x0024), (0x00A2, 0x00A5), kind="symbols"),
    _a("Arrows", (0x2190, 0x21FF), kind="symbols"),
    _a("Supplemental_Arrows", (0x27F0, 0x27FF), (0x2900, 0x297F), (0x2B00, 0x2BFF),
       kind="symbols"),
    _a("Mathematical_Operators", (0x2200, 0x22FF), kind="symbols"),
    _a("Supplemental_Math_Operators", (0x27C0, 0x27EF), (0x2980, 0x29FF), (0x2A00, 0x2AFF),
       kind="symbols"),
    _a("Miscellaneous_Technical", (0x2300, 0x23FF), kind="symbols"),
    _a("Enclosed_Alphanumerics", (0x2460, 0x24FF), kind="symbols"),
    _a("Box_Drawing", (0x2500, 0x259F), kind="symbols"),
    _a("Geometric_Shapes", (0x25A0, 0x25FF), kind="symbols"),
    _a("Miscellaneous_Symbols", (0x2600, 0x26FF), kind="symbols"),
    _a("Dingbats", (0x2700, 0x27BF), kind="symbols"),
    _a("Braille", (0x2801, 0x283F), kind="symbols", frame="\u283f"),
)

ALPHABETS_BY_NAME: Dict[str, Alphabet] = {a.name: a for a in ALPHABETS}


def get_alphabets(names=None) -> Tuple[Alphabet, ...]:
    """The alphabets named in ``names`` (in table order), or all of them when None.

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    if names is None:
        return ALPHABETS
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in ALPHABETS_BY_NAME]
    if unknown:
        raise ValueError(f"unknown glyph alphabet(s) {unknown}; choose from: "
                         f"{', '.join(ALPHABETS_BY_NAME)}")
    wanted = set(names)
    return tuple(a for a in ALPHABETS if a.name in wanted)

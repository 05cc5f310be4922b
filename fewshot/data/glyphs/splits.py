"""Fixed background / validation / evaluation split of the glyph alphabets.

Alphabets (not characters) are split, as in Omniglot, so evaluation characters come from
scripts never seen in training. The split depends only on the alphabet names: each kind
(scripts, symbol blocks) is ordered by a hash of the name and the kinds are interleaved, so
every split gets its share of both; then 25% go to evaluation, 15% to validation and the rest
to background. It does not depend on the seed: every seed shares the same split.
"""

from __future__ import annotations

import hashlib
from typing import Dict, List, Sequence

from .alphabets import ALPHABETS_BY_NAME

SPLITS = ("background", "validation", "evaluation")
FRACTIONS = {"evaluation": 0.25, "validation": 0.15}


def _stable_hash(name: str) -> str:
    return hashlib.sha256(f"fewshot-glyphs-split:{name}".encode()).hexdigest()


def split_alphabets(names: Sequence[str]) -> Dict[str, List[str]]:
    """Assign alphabets to splits.

    Args:
        names: distinct alphabet names (at least 3, so every split gets one).

    Returns:
        ``{"background": [...], "validation": [...], "evaluation": [...]}``, each list in the
        order of ``names``.

    Raises:
        ValueError: fewer than 3 alphabets, or a repeated name.
    """
    names = list(names)
    if len(set(names)) != len(names):
        raise ValueError(f"alphabet names must be distinct, got {names}")
    if len(names) < 3:
        raise ValueError(f"need at least 3 alphabets to split into background / validation / "
                         f"evaluation, got {len(names)}: {names}")
    by_kind: Dict[str, List[str]] = {}
    for n in names:
        kind = ALPHABETS_BY_NAME[n].kind if n in ALPHABETS_BY_NAME else "other"
        by_kind.setdefault(kind, []).append(n)
    ranked = []  # (position within its kind in [0, 1), kind, name): interleaves the kinds
    for kind, group in sorted(by_kind.items()):
        group = sorted(group, key=_stable_hash)
        ranked += [((i + 0.5) / len(group), kind, n) for i, n in enumerate(group)]
    order = [n for _, _, n in sorted(ranked)]
    n_eval = max(1, round(FRACTIONS["evaluation"] * len(order)))
    n_val = max(1, round(FRACTIONS["validation"] * len(order)))
    chosen = {"evaluation": set(order[:n_eval]), "validation": set(order[n_eval:n_eval + n_val])}
    out: Dict[str, List[str]] = {s: [] for s in SPLITS}
    for n in names:
        split = next((s for s, members in chosen.items() if n in members), "background")
        out[split].append(n)
    return out

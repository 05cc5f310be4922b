"""Small argument checks shared by the sampler and the describers (private)."""

from __future__ import annotations

import numbers
from typing import Optional


def check_int(name: str, value: object, minimum: Optional[int] = None) -> int:
    """Return ``value`` as an ``int`` or raise a ValueError naming ``name``.

    Booleans are refused on purpose: ``k_shot=True`` is a bug, not a 1-shot episode.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_float(name: str, value: object, low: float, high: float) -> float:
    """Return ``value`` as a ``float`` in the closed interval [low, high] or raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def preview(items, limit: int = 5) -> str:
    """Format at most ``limit`` items for an error message, saying how many were left out."""
    items = list(items)
    shown = ", ".join(repr(item) for item in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items) - limit} more)"
    return shown

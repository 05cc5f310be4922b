"""Moved to :mod:`fewshot.runs.inputs`; kept so that ``from fewshot.engine.inputs import Normalizer``
(the README's import until 0.1) keeps working."""

from ..runs.inputs import Normalizer, channels_of, gather, pixel_stats

__all__ = ["Normalizer", "channels_of", "gather", "pixel_stats"]

"""Describers decide what an episode is made of (an :class:`~episodes.spec.EpisodeSpec`)."""

from .base import Describer
from .fixed import FixedShots
from .grouped import ByDomain, WithinParent
from .imbalanced import ImbalancedShots
from .variable import VariableWaysShots

__all__ = ["Describer", "FixedShots", "VariableWaysShots", "ImbalancedShots", "ByDomain",
           "WithinParent"]

"""Loss functions and their combination into an episode loss (a dict with ``"loss"`` and each term).

``LOSS_TERMS`` is the registry of named episode terms a learner's ``losses`` option may select.
"""

from .episode import LOSS_TERMS, EpisodeLoss, EpisodeOutputs, LossOptions, parse_weights
from .icnn import ICNN_STYLES, ICNN_VARIANTS, episode_icnn_loss, icnn_loss, icnn_score
from .proto_triplet import proto_triplet_loss

__all__ = [
    "EpisodeLoss", "EpisodeOutputs", "ICNN_STYLES", "ICNN_VARIANTS", "LOSS_TERMS", "LossOptions",
    "episode_icnn_loss", "icnn_loss", "icnn_score", "parse_weights", "proto_triplet_loss",
]

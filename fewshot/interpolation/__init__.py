"""Task interpolation that needs the network: MLTI at hidden layers, interval bound
propagation (IBP) and interval-bound interpolation (IBI), and the learner wrapper.

Network-free parts (pairing, class alignment, lambda, mixup/CutMix, labels) live in
:mod:`episodes.interpolate`.
"""

from .adapters import MetricAdapter, ce_and_acc
from .ibi import IBI, Bounds, EpsSchedule, bound_losses, draw_class_weights, interpolate_bounds, softmax_weighted
from .ibp import RULES, block_bounds, propagate, register_interval_rule
from .learner import INTERPOLATION_KINDS, KINDS, InterpolatedLearner, wrap_interpolation
from .mlti import MLTI, HiddenMix
from .programs import Plain, View, run_from, run_to

__all__ = [
    "MetricAdapter", "ce_and_acc", "IBI", "EpsSchedule", "bound_losses", "draw_class_weights",
    "interpolate_bounds", "softmax_weighted", "RULES", "block_bounds", "propagate",
    "register_interval_rule", "INTERPOLATION_KINDS", "KINDS", "InterpolatedLearner", "wrap_interpolation",
    "MLTI", "Bounds",
    "HiddenMix", "Plain", "View", "run_from", "run_to",
]

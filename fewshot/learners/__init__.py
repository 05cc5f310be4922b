"""Learners: every few-shot method behind one protocol (see ``base.Learner``)."""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from .base import Learner
from .maml import ANIL, FOMAML, MAML, MetaSGD
from .matchingnet import MatchingNet
from .pretrain import CosineHead, SimpleShot, make_head
from .protonet import ProtoNet, prototypes

LEARNERS: Dict[str, Callable[..., Learner]] = {
    "protonet": ProtoNet,
    "matchingnet": MatchingNet,
    "maml": MAML,
    "fomaml": FOMAML,
    "anil": ANIL,
    "metasgd": MetaSGD,
    "pretrain": SimpleShot,
}


def create_learner(name: str, backbone: nn.Module, **kwargs) -> Learner:
    """Build a registered learner around ``backbone``; ``kwargs`` are its options."""
    if name not in LEARNERS:
        raise ValueError(f"unknown learner {name!r}; available: {', '.join(sorted(LEARNERS))}")
    try:
        return LEARNERS[name](backbone, **kwargs)
    except TypeError as err:
        raise ValueError(f"learner {name!r} does not accept these options {sorted(kwargs)}: {err}") from None


__all__ = ["ANIL", "CosineHead", "FOMAML", "LEARNERS", "Learner", "MAML", "MatchingNet", "MetaSGD",
           "ProtoNet", "SimpleShot", "create_learner", "make_head", "prototypes"]

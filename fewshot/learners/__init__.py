"""Learners: every few-shot method behind one protocol (see ``base.Learner``)."""

from __future__ import annotations

from torch import nn

from ..registry import Registry
from .base import Learner
from .maml import ANIL, FOMAML, MAML, MetaSGD
from .matchingnet import MatchingNet
from .protonet import ProtoNet, prototypes
from .simpleshot import CosineHead, SimpleShot, make_head

#: name -> learner class. Registration metadata tells :func:`fewshot.runs.build.build_learner`
#: what else the learner is built with: ``needs`` (``feature_dim``: the backbone's output size,
#: ``n_way``: ``train.n_way`` for a fixed head), ``model_keys`` (``model.*`` keys passed as
#: default options) and ``training`` (``episodic``, or ``batches`` for standard pre-training).
LEARNERS = Registry("learner")
LEARNERS.add("protonet", ProtoNet, model_keys=("distance", "learn_scale"))
LEARNERS.add("matchingnet", MatchingNet, needs=("feature_dim",))
for _name, _cls in (("maml", MAML), ("fomaml", FOMAML), ("anil", ANIL), ("metasgd", MetaSGD)):
    LEARNERS.add(_name, _cls, needs=("feature_dim", "n_way"))
LEARNERS.add("pretrain", SimpleShot, needs=("feature_dim",), training="batches")


def create_learner(name: str, backbone: nn.Module, **kwargs) -> Learner:
    """Build a registered learner around ``backbone``; ``kwargs`` are its options."""
    cls = LEARNERS.get(name)  # an unknown name: ValueError listing the learners
    try:
        return cls(backbone, **kwargs)
    except TypeError as err:
        raise ValueError(f"learner {name!r} does not accept these options {sorted(kwargs)}: {err}") from None


__all__ = ["ANIL", "CosineHead", "FOMAML", "LEARNERS", "Learner", "MAML", "MatchingNet", "MetaSGD",
           "ProtoNet", "SimpleShot", "create_learner", "make_head", "prototypes"]

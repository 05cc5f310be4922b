"""Learners: every few-shot method behind one protocol (see ``base.Learner``)."""

from __future__ import annotations

import inspect
import typing
from typing import Any, Dict, Union

from torch import nn

from ..config import coerce_value
from ..registry import Registry
from .base import Learner
from .maml import ANIL, FOMAML, MAML, MetaSGD
from .matchingnet import MatchingNet
from .protonet import ProtoNet, prototypes
from .simpleshot import CosineHead, SimpleShot, make_head

#: name -> learner class. Registration metadata tells :func:`fewshot.runs.build.build_learner`
#: what else the learner is built with: ``needs`` (``feature_dim``: the backbone's output size,
#: ``n_way``: ``train.n_way`` for a fixed head), ``model_keys`` (``model.*`` keys passed as
#: default options), ``training`` (``episodic``, or ``batches`` for standard pre-training) and
#: optionally ``options`` (``{name: type}``; default: read from the learner's ``__init__``
#: annotations, see :func:`learner_option_types`).
LEARNERS = Registry("learner")
LEARNERS.add("protonet", ProtoNet, model_keys=("distance", "learn_scale"))
LEARNERS.add("matchingnet", MatchingNet, needs=("feature_dim",))
for _name, _cls in (("maml", MAML), ("fomaml", FOMAML), ("anil", ANIL), ("metasgd", MetaSGD)):
    LEARNERS.add(_name, _cls, needs=("feature_dim", "n_way"))
LEARNERS.add("pretrain", SimpleShot, needs=("feature_dim",), training="batches")


_CHECKED_TYPES = (bool, int, float, str)


def learner_option_types(name: str) -> Dict[str, Any]:
    """``{option: type}`` of a registered learner: the ``options`` given at registration, else
    read from the annotations of its ``__init__`` (and its parents' while it passes ``**kwargs``
    on). Options whose type is not a plain bool / int / float / str (or Optional of one) map to
    ``Any`` and are left to the learner."""
    info = LEARNERS.info(name)
    if "options" in info:
        return dict(info["options"])
    types: Dict[str, Any] = {}
    for klass in LEARNERS.get(name).__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # noqa: BLE001 - annotations that do not resolve are not checked
            hints = {}
        params = list(inspect.signature(init).parameters.values())[1:]
        for p in params:
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name == "backbone":
                continue
            tp = hints.get(p.name, Any)
            plain = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is Union else [tp]
            types.setdefault(p.name, tp if len(plain) == 1 and plain[0] in _CHECKED_TYPES else Any)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return types


def check_learner_options(name: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """``options`` checked against :func:`learner_option_types` (``model.options.fce: "false"`` is
    a ConfigError naming the key, not FCE switched on); numbers widened (3 -> 3.0 for a float)."""
    types = learner_option_types(name)
    keys = LEARNERS.info(name).get("model_keys", ())
    out = dict(options)
    for key, value in options.items():
        tp = types.get(key, Any)
        if tp is not Any:
            out[key] = coerce_value(value, tp, f"model.{key}" if key in keys else f"model.options.{key}")
    return out


def create_learner(name: str, backbone: nn.Module, **kwargs) -> Learner:
    """Build a registered learner around ``backbone``; ``kwargs`` are its options (their types
    checked, see :func:`check_learner_options`)."""
    cls = LEARNERS.get(name)  # an unknown name: ValueError listing the learners
    kwargs = check_learner_options(name, kwargs)
    try:
        return cls(backbone, **kwargs)
    except TypeError as err:
        raise ValueError(f"learner {name!r} does not accept these options {sorted(kwargs)}: {err}") from None


__all__ = ["ANIL", "CosineHead", "FOMAML", "LEARNERS", "Learner", "MAML", "MatchingNet", "MetaSGD",
           "ProtoNet", "SimpleShot", "check_learner_options", "create_learner", "learner_option_types",
           "make_head", "prototypes"]

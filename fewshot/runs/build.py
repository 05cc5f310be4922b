"""Turn a config into a learner (backbone + method), the one place that knows both registries.

What a learner needs besides its backbone and ``model.options`` is declared when it is
registered (:data:`fewshot.learners.LEARNERS`), never decided here by its name."""

from __future__ import annotations

import difflib
import inspect
from typing import List, Optional, Set

import torch

from ..backbones import create_backbone
from ..backbones.weights import load_weights
from ..config import Config
from ..interpolation import wrap_interpolation
from ..learners import LEARNERS, create_learner
from ..learners.base import Learner, eval_mode
from ..losses import LossOptions
from ..registry import IMPORTED, plugin_modules
from .ranks import is_main


def used_plugins(cfg: Config) -> List[str]:
    """The plug-in modules a run built from ``cfg`` depends on: those defining its backbone,
    learner, distance or data set, plus every module ``FEWSHOT_PLUGINS`` imported. Checkpoints
    record them, so evaluating the run later imports them again."""
    m = cfg.model
    used = plugin_modules({"backbone": [m.backbone], "learner": [m.learner], "distance": [m.distance],
                           "data set": [cfg.data.name]})
    return sorted(set(used) | set(IMPORTED))


def build_backbone(cfg: Config, in_channels: int, load_init: bool = False):
    """The backbone ``cfg.model`` names, with ``model.backbone_options``; with ``load_init``,
    filled from ``model.init`` (a report of what fitted is printed)."""
    m = cfg.model
    try:
        backbone = create_backbone(m.backbone, in_channels=in_channels, width=m.width, **m.backbone_options)
    except TypeError as err:
        raise ValueError(f"backbone {m.backbone!r} does not take model.backbone_options "
                         f"{sorted(m.backbone_options)}: {err}") from None
    if load_init and m.init:
        try:
            report = load_weights(backbone, m.init, strict=m.init_strict)
        except (ValueError, OSError) as err:  # WeightsError is a ValueError
            raise type(err)(f"model.init: {err}") from None
        if is_main():
            print(f"model.init: {report}")
    return backbone


def build_learner(cfg: Config, in_channels: int, load_init: bool = False, input_std=None):
    """Backbone and learner named in ``cfg.model``, for images with ``in_channels`` channels.

    ``load_init`` (training only): start the backbone from ``model.init``; before the learner is
    built, since some learners (MAML with ``bn: transductive``) reshape the backbone.
    ``input_std`` (training only): the per-channel pixel std of the normalised inputs, for
    options in pixel units (IBI's eps).
    """
    m = cfg.model
    backbone = build_backbone(cfg, in_channels, load_init)
    kwargs = dict(m.options)
    interpolation = kwargs.pop("interpolation", None)  # a wrapper, not a learner option
    info = LEARNERS.info(m.learner)  # an unknown learner: ValueError listing the learners
    if interpolation is not None and info.get("training") == "batches":
        raise ValueError(f"model.options.interpolation mixes the tasks of episodes, but learner {m.learner!r} "
                         "trains on batches (no episodes); drop the interpolation or use an episodic learner")
    for key in info.get("model_keys", ()):
        kwargs.setdefault(key, getattr(m, key))
    needs = info.get("needs", ())
    if "feature_dim" in needs and "feature_dim" not in kwargs:
        kwargs["feature_dim"] = feature_dim(backbone, in_channels, cfg.data.image_size)
    if "n_way" in needs:  # a fixed head (MAML family)
        kwargs.setdefault("n_way", cfg.train.n_way)
    check_learner_options(m.learner, m.options)
    learner = create_learner(m.learner, backbone, **kwargs)
    return wrap_interpolation(learner, interpolation, total_episodes=cfg.train.episodes, input_std=input_std)


def learner_options(cls: type) -> Optional[Set[str]]:
    """The ``model.options`` keys learner class ``cls`` takes: the named parameters of its
    ``__init__`` (followed up the class tree through ``**kwargs``), with the
    :class:`~fewshot.losses.LossOptions` fields for a ``**loss_options`` parameter; None when an
    open ``**kwargs`` leaves the set unknown."""
    names: Set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is Learner:
            break
        if not issubclass(klass, Learner):
            return None  # the **kwargs reach a class that is not a learner: unknown
        params = list(inspect.signature(init).parameters.values())[1:]
        names.update(p.name for p in params
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        rest = [p for p in params if p.kind == p.VAR_KEYWORD]
        if rest and rest[0].name == "loss_options":
            names.update(LossOptions.__dataclass_fields__)
        elif not rest:
            break
    names.discard("backbone")
    return names


def check_learner_options(name: str, options) -> None:
    """A ValueError naming the ``model.options`` keys learner ``name`` does not take, with the
    ones it takes (backbone options belong in ``model.backbone_options``)."""
    valid = learner_options(LEARNERS.get(name))
    if valid is None:
        return
    valid.add("interpolation")  # a wrapper around any learner
    unknown = [k for k in options if k not in valid]
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], sorted(valid), n=1)
    hint = f" Did you mean model.options.{close[0]}?" if close else ""
    raise ValueError(f"learner {name!r} has no option {', '.join(f'model.options.{k}' for k in unknown)}."
                     f"{hint} It takes: {', '.join(sorted(valid))}. Options of the backbone (e.g. "
                     "DropBlock's drop_rate and dropblock_size for resnet12) go in model.backbone_options, "
                     "e.g. model.backbone_options.drop_rate=0.1")


@torch.no_grad()
def feature_dim(backbone, in_channels: int, image_size: int) -> int:
    """Output size of ``backbone`` on (image_size x image_size) images: one probe forward pass."""
    with eval_mode(backbone):  # eval: the probe must not touch BatchNorm running statistics
        out = backbone(torch.zeros(1, in_channels, image_size, image_size))
    return int(out.shape[1])

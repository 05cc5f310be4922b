"""Episode losses as a weighted mean of named terms, each term reported on its own.

A metric learner computes what every term may need once (:class:`EpisodeOutputs`), then an
:class:`EpisodeLoss` evaluates the selected terms and combines them:

    total = sum_t w_t L_t / sum_t w_t

which is the authors' "(CE + L_PT) / 2" for ``{ce: 1, triplet: 1}`` (Mendez-Ruiz et al. 2023 average
the selected terms). A term with weight 0 is still computed and logged but not trained on.

Terms (``LOSS_TERMS``): ``ce`` (cross-entropy of the query logits), ``triplet`` (Proto-Triplet),
``icnn`` (ICNN in the variant chosen by ``icnn_variant``), and ``icnn_support`` / ``icnn_query`` /
``icnn_full`` to combine several variants as the authors' scripts do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from ..registry import Registry
from .icnn import ICNN_STYLES, ICNN_VARIANTS, episode_icnn_loss
from .proto_triplet import proto_triplet_loss


@dataclass
class EpisodeOutputs:
    """What the terms read. zs: (n_support, D), ys: (n_support,), zq: (n_query, D), yq: (n_query,),
    logits: (n_query, n_way), prototypes: (n_way, D) or None."""

    zs: torch.Tensor
    ys: torch.Tensor
    zq: torch.Tensor
    yq: torch.Tensor
    logits: torch.Tensor
    prototypes: Optional[torch.Tensor] = None


@dataclass
class LossOptions:
    margin: float = 0.5  # Proto-Triplet margin
    icnn_k: int = 4  # ICNN neighbours
    icnn_variant: str = "support"  # support | query | full, for the term "icnn"
    icnn_style: str = "authors"  # authors (their code, default) | paper (see fewshot.losses.icnn)
    icnn_query_target: str = "support"  # support | prototypes, for the query variant


def _needs_prototypes(ep: EpisodeOutputs, term: str) -> torch.Tensor:
    if ep.prototypes is None:
        raise ValueError(f"loss term {term!r} needs class prototypes; this learner does not provide them")
    return ep.prototypes


def _icnn(variant: Optional[str]) -> Callable[[EpisodeOutputs, LossOptions], torch.Tensor]:
    def term(ep: EpisodeOutputs, o: LossOptions) -> torch.Tensor:
        return episode_icnn_loss(variant or o.icnn_variant, ep.zs, ep.ys, ep.zq, ep.yq, ep.prototypes,
                                 k=o.icnn_k, style=o.icnn_style, query_target=o.icnn_query_target)
    return term


#: loss term name -> ``fn(EpisodeOutputs, LossOptions) -> scalar``; register your own with
#: ``LOSS_TERMS.add("name", fn)`` (or ``@LOSS_TERMS.register("name")``).
LOSS_TERMS = Registry("loss term")
LOSS_TERMS.add("ce", lambda ep, o: F.cross_entropy(ep.logits, ep.yq))
LOSS_TERMS.add("triplet", lambda ep, o: proto_triplet_loss(ep.zq, ep.yq, _needs_prototypes(ep, "triplet"), o.margin))
for _name, _variant in (("icnn", None), ("icnn_support", "support"), ("icnn_query", "query"), ("icnn_full", "full")):
    LOSS_TERMS.add(_name, _icnn(_variant))

Weights = Union[Mapping[str, float], Sequence[str], str]


def parse_weights(losses: Optional[Weights]) -> Dict[str, float]:
    """``{ce: 1, triplet: 1}``, ``["ce", "triplet"]`` or ``"ce,triplet"`` -> ``{"ce": 1.0, "triplet": 1.0}``."""
    if losses is None:
        return {"ce": 1.0}
    if isinstance(losses, str):
        losses = [name.strip() for name in losses.split(",") if name.strip()]
    if not isinstance(losses, Mapping):
        losses = {name: 1.0 for name in losses}
    weights = {}
    for name, w in losses.items():
        LOSS_TERMS.get(name)  # an unknown term: ValueError listing the terms
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
            raise ValueError(f"loss weight of {name!r} must be a number >= 0, got {w!r}")
        weights[name] = float(w)
    if not weights or sum(weights.values()) <= 0:
        raise ValueError(f"at least one loss term needs a positive weight, got {dict(losses)}")
    return weights


class EpisodeLoss:
    """Weighted mean of the selected terms; returns ``loss``, ``acc`` and every term (detached).

    Args:
        losses: term weights (see :func:`parse_weights`); None = cross-entropy alone.
        **options: fields of :class:`LossOptions` (margin, icnn_k, icnn_variant, icnn_style,
            icnn_query_target).
    """

    def __init__(self, losses: Optional[Weights] = None, **options):
        self.weights = parse_weights(losses)
        unknown = set(options) - set(LossOptions.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown loss options {sorted(unknown)}; "
                             f"valid: {', '.join(LossOptions.__dataclass_fields__)}")
        self.options = LossOptions(**options)
        o = self.options
        if o.icnn_variant not in ICNN_VARIANTS:
            raise ValueError(f"icnn_variant must be one of {', '.join(ICNN_VARIANTS)}, got {o.icnn_variant!r}")
        if o.icnn_style not in ICNN_STYLES:
            raise ValueError(f"icnn_style must be one of {', '.join(ICNN_STYLES)}, got {o.icnn_style!r}")
        if o.icnn_query_target not in ("support", "prototypes"):
            raise ValueError(f"icnn_query_target must be 'support' or 'prototypes', got {o.icnn_query_target!r}")
        if o.icnn_k < 1:
            raise ValueError(f"icnn_k must be >= 1, got {o.icnn_k}")
        if o.margin < 0:
            raise ValueError(f"margin must be >= 0, got {o.margin}")

    def __call__(self, ep: EpisodeOutputs) -> Dict[str, torch.Tensor]:
        terms = {name: LOSS_TERMS[name](ep, self.options) for name in self.weights}
        total = sum(w * terms[name] for name, w in self.weights.items()) / sum(self.weights.values())
        out = {"loss": total}
        out.update({name: value.detach() for name, value in terms.items()})
        out["acc"] = (ep.logits.argmax(1) == ep.yq).float().mean().detach()
        return out

"""How one task's inputs become features under interpolation, for any kind of learner.

A *program* maps inputs of one task (support and query together for metric learners, or
one of them at a time for MAML, whose inner loop embeds the support alone) to one or more
:class:`View` s -- features with the labels they should be classified as -- plus auxiliary
loss terms. Learner adapters (:mod:`.adapters`) turn views into logits and losses, so the
same program serves ProtoNet and MAML. The interpolating programs live with their methods:
:class:`~.mlti.HiddenMix` and :class:`~.ibi.Bounds`.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Sequence

import torch
from torch import nn

Aux = Dict[str, torch.Tensor]


class View(NamedTuple):
    """Features to classify. features: (n, D); labels: (n,) int64 or (n, n_way) soft."""

    features: torch.Tensor
    labels: torch.Tensor


def run_to(backbone: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    """Representation at ``layer``: 0 = the input, k = after block k, len(blocks) = features."""
    n = len(backbone.blocks)
    if layer == 0:
        return x
    if layer >= n:
        return backbone(x)
    return backbone.forward_from(x, 0, layer)


def run_from(backbone: nn.Module, h: torch.Tensor, layer: int) -> torch.Tensor:
    """Features from a representation at ``layer`` (see :func:`run_to`)."""
    if layer >= len(backbone.blocks):
        return h
    return backbone.forward_from(h, layer)


class Plain:
    """No interpolation inside the network: ``backbone(x)``, one view."""

    def __call__(self, backbone: nn.Module, inputs: Sequence[torch.Tensor], labels: Sequence[torch.Tensor]):
        return [View(backbone(inputs[0]), labels[0])], {}

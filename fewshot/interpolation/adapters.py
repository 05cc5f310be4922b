"""Evaluate a task :mod:`program <.programs>` with a learner: metric learners here, MAML in
:mod:`.maml_adapter`.

An adapter's ``task_loss(program, support, support_labels, query, query_labels, n_way,
combine)`` takes *streams*: tuples of inputs (one stream for a plain or bounded task, two --
anchor and aligned partner -- for hidden-layer MLTI) and returns ``(loss, logs)``, where
``combine(ce, aux)`` folds auxiliary terms (interval-bound losses) into the loss.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..learners.base import Learner

Combine = Callable[[torch.Tensor, Dict[str, torch.Tensor]], torch.Tensor]


def hard(labels: torch.Tensor) -> torch.Tensor:
    """Class indices of hard (n,) or soft (n, n_way) labels."""
    return labels.argmax(-1) if labels.dtype.is_floating_point else labels


def ce_and_acc(logits: torch.Tensor, labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy with hard (n,) or soft (n, n_way) targets, and accuracy (vs. the argmax)."""
    loss = F.cross_entropy(logits, labels)
    acc = (logits.argmax(1) == hard(labels)).float().mean()
    return loss, acc


class MetricAdapter:
    """Learners that classify queries from features: ``logits_from_features(zs, ys, zq, n_way)``
    (ProtoNet, MatchingNet, ...). Support and query go through the program together, as in
    ``Learner.episode_loss``; prototypes use hard support labels."""

    def __init__(self, learner: Learner):
        if not hasattr(learner, "logits_from_features") or not getattr(learner, "uses_features", False):
            raise ValueError(f"{type(learner).__name__} does not classify from features; "
                             "interpolation supports metric learners and the MAML family")
        self.learner = learner

    def task_loss(self, program, support: Sequence[torch.Tensor], support_labels: Sequence[torch.Tensor],
                  query: Sequence[torch.Tensor], query_labels: Sequence[torch.Tensor], n_way: int,
                  combine: Combine) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        ns = len(support[0])
        inputs = [torch.cat([s, q]) for s, q in zip(support, query)]
        labels = [torch.cat([a, b]) for a, b in zip(support_labels, query_labels)]
        views, aux = program(self.learner.backbone, inputs, labels)
        ces, accs = [], []
        for view in views:
            zs, zq = view.features[:ns], view.features[ns:]
            logits = self.learner.logits_from_features(zs, hard(view.labels[:ns]), zq, n_way)
            ce, acc = ce_and_acc(logits, view.labels[ns:])
            ces.append(ce)
            accs.append(acc)
        ce = torch.stack(ces).mean()
        logs = {"ce": ce.detach(), "acc": accs[0].detach(), **{k: v.detach() for k, v in aux.items()}}
        return combine(ce, aux), logs

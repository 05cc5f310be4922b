"""Evaluate a task program with a learner of the MAML family (MAML, FOMAML, ANIL, Meta-SGD).

The inner loop adapts a learn2learn clone on the *support program's* loss -- for MLTI the
mixed support, for IBI the mean cross-entropy of the clean and interpolated support (as in the
paper's code) -- and the outer loss is the query program's cross-entropy, combined with its
auxiliary terms (the interval-bound losses, computed with the adapted weights).

The inner loop is the learner's own (:meth:`fewshot.learners.maml.MAML.adapt_on`), driven by the
support program's loss, with the learner's ``inner_steps`` / ``eval_inner_steps`` and
``first_order``, so all variants behave as they do without interpolation. It runs on learn2learn
clones whatever ``model.options.engine`` says.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import torch

from ..learners.maml import MAML
from .adapters import Combine, ce_and_acc


def _inner_program(program):
    """The program the inner loop runs (the bound terms are not needed there)."""
    return program.for_inner_loop() if hasattr(program, "for_inner_loop") else program


class GradientAdapter:
    """Programs for learners of the MAML family (MAML, FOMAML, ANIL, Meta-SGD)."""

    def __init__(self, learner: MAML):
        if not isinstance(learner, MAML):
            raise ValueError(f"{type(learner).__name__} is neither a metric learner nor of the MAML "
                             "family; task interpolation cannot drive it")
        self.learner = learner

    def task_loss(self, program, support: Sequence[torch.Tensor], support_labels: Sequence[torch.Tensor],
                  query: Sequence[torch.Tensor], query_labels: Sequence[torch.Tensor], n_way: int,
                  combine: Combine) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        lrn = self.learner
        if n_way > lrn.head.out_features:
            raise ValueError(f"{type(lrn).__name__}'s head has {lrn.head.out_features} outputs but the "
                             f"episode has {n_way} ways; raise train.n_way")
        steps = lrn.inner_steps if lrn.training else lrn.eval_inner_steps
        second_order = lrn.training and not lrn.first_order
        inner_program = _inner_program(program)

        def support_loss(clone):
            backbone, head = lrn.adapted_parts(clone)
            views, _ = inner_program(backbone, support, support_labels)
            return torch.stack([ce_and_acc(head(v.features)[:, :n_way], v.labels)[0] for v in views]).mean()

        clone, inner = lrn.adapt_on(support_loss, steps, second_order)
        backbone, head = lrn.adapted_parts(clone)
        views, aux = program(backbone, query, query_labels)
        results = [ce_and_acc(head(v.features)[:, :n_way], v.labels) for v in views]
        ce = torch.stack([r[0] for r in results]).mean()
        logs = {"ce": ce.detach(), "acc": results[0][1].detach(), "inner_loss": inner.detach(),
                **{k: v.detach() for k, v in aux.items()}}
        return combine(ce, aux), logs

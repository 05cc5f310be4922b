"""The learner protocol shared by every method.

A learner wraps a backbone and answers two questions:

* ``episode_loss(support, support_labels, query, query_labels, n_way)`` -> dict with ``"loss"``
  (a scalar to back-propagate), ``"acc"`` and one entry per loss term, for training;
* ``fit_support(support, support_labels, n_way)`` then ``forward(query)`` -> (n_query, n_way)
  logits, for evaluation (easyfsl's FewShotClassifier split).

Metric learners also implement ``logits_from_features(zs, ys, zq, n_way)`` so evaluation can run
the backbone once over a split and sample episodes over cached features (``uses_features``).

The training loop calls one method, ``meta_batch_loss(tasks, n_way)``: by default the mean of
``episode_loss`` over the tasks. A learner that combines the tasks of a meta-batch (task
interpolation pairs them) sets ``combines_tasks = True`` and gets the whole meta-batch at once;
the others get one task per call and the loop accumulates gradients over the meta-batch.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn


class Learner(nn.Module):
    #: True when the learner's predictions depend only on backbone features of the episode
    #: (so evaluation may embed a split once and reuse the features).
    uses_features: bool = True
    #: True when predictions for one query depend on the other queries.
    transductive: bool = False
    #: True when ``meta_batch_loss`` needs all tasks of a meta-batch together (they must then
    #: share one shape); False: the loop passes one task per call.
    combines_tasks: bool = False

    def __init__(self, backbone: Optional[nn.Module]):
        super().__init__()
        if backbone is not None:  # None: a wrapper whose backbone is its inner learner's
            self.backbone = backbone
        self._support: Optional[tuple] = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, D)."""
        return self.backbone(x)

    def logits_from_features(self, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor,
                             n_way: int) -> torch.Tensor:
        """zs: (n_support, D), ys: (n_support,) in 0..n_way-1, zq: (n_query, D) -> (n_query, n_way)."""
        raise NotImplementedError

    def fit_support(self, support: torch.Tensor, support_labels: torch.Tensor, n_way: int) -> None:
        self._support = (self.embed(support), support_labels, n_way)

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        if self._support is None:
            raise RuntimeError("call fit_support(support, labels, n_way) before forward(query)")
        zs, ys, n_way = self._support
        return self.logits_from_features(zs, ys, self.embed(query), n_way)

    def episode_loss(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                     query_labels: torch.Tensor, n_way: int) -> Dict[str, torch.Tensor]:
        """Cross-entropy of the query logits; one forward pass over support and query together."""
        z = self.embed(torch.cat([support, query]))
        zs, zq = z[: len(support)], z[len(support):]
        logits = self.logits_from_features(zs, support_labels, zq, n_way)
        loss = F.cross_entropy(logits, query_labels)
        acc = (logits.argmax(1) == query_labels).float().mean()
        return {"loss": loss, "ce": loss.detach(), "acc": acc.detach()}

    def meta_batch_loss(self, tasks: Sequence[Tuple[torch.Tensor, ...]], n_way: int) -> Dict[str, torch.Tensor]:
        """The loss of a meta-batch: the mean of :meth:`episode_loss` (and of every term) over
        ``tasks``, each ``(support, support_labels, query, query_labels)``."""
        outs = [self.episode_loss(*task, n_way) for task in tasks]
        if len(outs) == 1:
            return outs[0]
        return {k: torch.stack([o[k] for o in outs]).mean() for k in outs[0]}


    def adapt_many(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, n_way: int,
                   chunk: Optional[int] = None) -> torch.Tensor:
        """Logits (E, n_query, n_way) of E episodes of one shape: support (E, n_support, ...),
        labels (E, n_support), query (E, n_query, ...). By default ``fit_support`` then
        ``forward``, episode by episode; a learner may adapt them all at once (``chunk`` at a time)."""
        out = []
        for e in range(len(support)):
            with torch.enable_grad():  # gradient-based learners adapt on the support
                self.fit_support(support[e], support_labels[e], n_way)
            with torch.no_grad():
                out.append(self(query[e]))
        return torch.stack(out)

    def logits_from_features_many(self, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int,
                                  chunk: Optional[int] = None) -> torch.Tensor:
        """:meth:`logits_from_features` of E episodes: zs (E, n_support, D), ys (E, n_support),
        zq (E, n_query, D) -> (E, n_query, n_way); episode by episode by default."""
        with torch.no_grad():
            return torch.stack([self.logits_from_features(zs[e], ys[e], zq[e], n_way) for e in range(len(zs))])


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in evaluation mode inside the block, its own mode restored after (also on errors)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)

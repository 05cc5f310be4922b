"""A learner wrapper that trains any metric learner or MAML learner with task interpolation.

Config: ``model.options.interpolation`` (removed from the learner's own options), e.g.::

    model:
      learner: protonet
      options:
        interpolation: {kind: mlti, layer: random, alpha: 2.0, mix: cutmix}
        # or {kind: ibi, layers: 1, eps: 0.05, eps_unit: pixel, temperature: 1.0, a: 2.0, b: 2.0}
        # or {kind: ibp, ...}: bound terms without interpolation

The wrapper changes training only: evaluation (``fit_support`` / ``forward``, features)
goes to the wrapped learner untouched. It offers ``meta_batch_loss(tasks, n_way)``, so the
trainer hands it the B episodes of a meta-batch at once (MLTI pairs tasks across them).
Random draws come from torch's global generator (via a NumPy generator seeded from it),
whose state every checkpoint keeps, so resumed runs draw the same.

Interpolated tasks are scored with cross-entropy (the papers' loss): extra loss terms a metric
learner may have (ProtoNet's ``losses``, e.g. Proto-Triplet) are not applied to them.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np
import torch

from episodes.interpolate import TaskBatch, stack_tasks

from ..learners.base import Learner
from ..learners.maml import MAML
from ..registry import Registry
from .adapters import MetricAdapter
from .ibi import IBI
from .maml_adapter import GradientAdapter
from .mlti import MLTI

#: ``model.options.interpolation.kind`` -> ``factory(n_blocks, total_episodes=..., input_std=...,
#: **options)``: ``total_episodes`` is the length of training, ``input_std`` the per-channel pixel
#: std of the normalised inputs (None when unknown), for methods whose options are in pixel units.
INTERPOLATION_KINDS = Registry("interpolation kind")
INTERPOLATION_KINDS.add("mlti", lambda n_blocks, total_episodes=None, input_std=None, **o: MLTI(n_blocks, **o),
                        summary="MLTI: mix two tasks at a hidden layer (Yao et al. 2022)")
INTERPOLATION_KINDS.add("ibi", lambda n_blocks, total_episodes=None, input_std=None, **o: IBI(
    n_blocks, interpolate=True, total_episodes=total_episodes, input_std=input_std, **o),
    summary="interval-bound interpolation (Datta et al. 2023)")
INTERPOLATION_KINDS.add("ibp", lambda n_blocks, total_episodes=None, input_std=None, **o: IBI(
    n_blocks, interpolate=False, total_episodes=total_episodes, input_std=input_std, **o),
    summary="IBI's interval-bound terms without interpolation")
KINDS = tuple(INTERPOLATION_KINDS.names())


def _adapter(learner: Learner):
    """MAML family first: ANIL with running BatchNorm also classifies from features, but adapts
    a head in its inner loop."""
    if isinstance(learner, MAML):
        return GradientAdapter(learner)
    return MetricAdapter(learner)


class InterpolatedLearner(Learner):
    """Trains ``inner`` on interpolated tasks (MLTI) or with interval bounds (IBP / IBI).

    Args:
        inner: the learner (ProtoNet, MatchingNet, or a MAML-family learner).
        kind: ``"mlti"``, ``"ibi"`` or ``"ibp"`` (IBI's bound terms without interpolation).
        total_episodes: length of training, for IBI's eps schedule.
        input_std: per-channel pixel std of the normalised inputs (``Normalizer.std``), for IBI's
            eps in pixel units (``eps_unit: pixel``, the default); fewshot's trainer passes it.
        **options: the method's options (see :class:`~.mlti.MLTI`, :class:`~.ibi.IBI`).
    """

    combines_tasks = True  # MLTI pairs the tasks of a meta-batch

    def __init__(self, inner: Learner, kind: str = "mlti", total_episodes: int = None, input_std=None,
                 **options: Any):
        super().__init__(None)  # no backbone of its own: it is ``inner``'s
        factory = INTERPOLATION_KINDS.get(kind)
        n_blocks = len(inner.backbone.blocks)
        try:
            self.method = factory(n_blocks, total_episodes=total_episodes, input_std=input_std, **options)
        except TypeError as err:
            raise ValueError(f"interpolation kind {kind!r} does not accept options {sorted(options)}: {err}") from None
        if hasattr(self.method, "check"):  # e.g. IBI: every layer it propagates through has a rule
            self.method.check(inner.backbone)
        self.kind = kind
        self.inner = inner
        self.adapter = _adapter(inner)
        self.uses_features = inner.uses_features
        self.transductive = inner.transductive
        # episodes trained on, for the eps schedule; a buffer so that checkpoints keep it
        self.register_buffer("episodes_seen", torch.zeros((), dtype=torch.long))

    @property
    def backbone(self):
        return self.inner.backbone

    # ---- evaluation: the wrapped learner, unchanged ----------------------------------------
    def embed(self, x):
        return self.inner.embed(x)

    def logits_from_features(self, zs, ys, zq, n_way):
        return self.inner.logits_from_features(zs, ys, zq, n_way)

    def adapt_many(self, support, support_labels, query, n_way, chunk=None):
        return self.inner.adapt_many(support, support_labels, query, n_way, chunk)

    def logits_from_features_many(self, zs, ys, zq, n_way, chunk=None):
        return self.inner.logits_from_features_many(zs, ys, zq, n_way, chunk)

    def fit_support(self, support, support_labels, n_way):
        return self.inner.fit_support(support, support_labels, n_way)

    def forward(self, query):
        return self.inner(query)

    # ---- training ------------------------------------------------------------------------
    def meta_batch_loss(self, tasks: Sequence[Tuple[torch.Tensor, ...]], n_way: int) -> Dict[str, torch.Tensor]:
        """Loss over a meta-batch of B episodes of one shape.

        Args:
            tasks: B tuples ``(support (N*K, C, H, W), support_labels (N*K,), query (N*Q, C, H, W),
                query_labels (N*Q,))``, or a stacked :class:`episodes.interpolate.TaskBatch`.
            n_way: classes per episode.

        Returns:
            ``loss`` (mean over the B tasks, to back-propagate), ``acc``, ``ce``, the method's
            terms (``ub``/``lb``/``eps`` for IBI; ``mix_layer``/``mix_lambda`` for MLTI) and
            ``mixed_tasks``, the number of tasks actually interpolated.
        """
        batch = tasks if isinstance(tasks, TaskBatch) else stack_tasks(list(tasks))
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        out = self.method.meta_batch_loss(self.adapter, batch, n_way, rng, int(self.episodes_seen))
        if self.training:
            self.episodes_seen += batch.n_tasks
        return out

    def episode_loss(self, support, support_labels, query, query_labels, n_way):
        """One episode as a meta-batch of one (MLTI then pairs the task with itself)."""
        return self.meta_batch_loss([(support, support_labels, query, query_labels)], n_way)


def wrap_interpolation(learner: Learner, options: Dict[str, Any], total_episodes: int = None,
                       input_std=None) -> Learner:
    """``learner`` wrapped as ``model.options.interpolation`` asks; unchanged for None, {} or
    ``{kind: none}`` (handy to switch a config's interpolation off from the command line).

    ``options`` must name ``kind``; the rest goes to the method.
    """
    if not options or (isinstance(options, dict) and options.get("kind") in (None, "none") and "kind" in options):
        return learner
    if not isinstance(options, dict) or "kind" not in options:
        raise ValueError("model.options.interpolation must be a mapping with a 'kind' "
                         f"({', '.join(INTERPOLATION_KINDS.names())}), e.g. {{kind: mlti, layer: random}}; "
                         f"got {options!r}")
    options = dict(options)
    return InterpolatedLearner(learner, options.pop("kind"), total_episodes=total_episodes, input_std=input_std,
                               **options)

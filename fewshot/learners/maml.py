"""The MAML family through learn2learn: MAML, first-order MAML, ANIL and Meta-SGD.

* MAML (Finn et al. 2017, https://arxiv.org/abs/1703.03400): every weight adapts to the support
  with ``inner_steps`` SGD steps; the query loss of the adapted network is the outer loss,
  differentiated through the inner steps (second order).
* FOMAML (same paper, section 5.2): the inner gradients are treated as constants.
* ANIL (Raghu et al. 2020, https://arxiv.org/abs/1909.09157): only the linear head adapts;
  the backbone is trained by the outer loop alone.
* Meta-SGD (Li et al. 2017, https://arxiv.org/abs/1707.09835): one learnt learning rate per
  weight (``inner_lrs``, initialised to ``inner_lr``), meta-trained with the weights.

Meta-batch: the trainer averages ``train.meta_batch`` episode losses per optimiser step.

Engines (``engine``, i.e. ``model.options.engine``): ``"learn2learn"`` clones the network and
adapts one task at a time (learn2learn's ``MAML`` / ``MetaSGD`` wrappers); ``"vectorised"``
adapts every task of a meta-batch (or every test episode of a chunk) at once, weights stacked
over tasks (:mod:`fewshot.learners.functional_maml`): same meta-gradients, same
running statistics, same predictions. With the vectorised engine the learner offers
``combines_tasks``, so the trainer hands ``meta_batch_loss`` a whole meta-batch (episodes of one
shape); ``adapt_many`` evaluates many episodes at once with either engine. Task interpolation
(``model.options.interpolation``) adapts through learn2learn, one task at a time, whatever the
engine (its inner loop runs the task program on a learn2learn clone).
"""

from __future__ import annotations

import contextlib
import io
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError
from . import functional_maml as fm
from .base import Learner

BN_MODES = ("transductive", "running")


def _l2l():
    """learn2learn, imported on first use (it is heavy, and its gym import prints a notice)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            import learn2learn
    except ImportError as err:
        # A ConfigError: the CLI prints it as one line (choosing the learner is the mistake).
        raise ConfigError(f"the MAML family (maml, fomaml, anil, metasgd) needs learn2learn ({err}): "
                          "pip install 'fewshot[maml]' (on Python >= 3.11 build learn2learn 0.2.0 "
                          "from source as the README's Installing section says)") from None
    return learn2learn


def use_batch_statistics(module: nn.Module) -> None:
    """Make every BatchNorm in ``module`` normalise with the current batch, in train and eval mode.

    Drops the running-statistics buffers, as the reference MAML code never uses them.
    """
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None


class _Classifier(nn.Module):
    """backbone then head: the network MAML adapts as a whole."""

    def __init__(self, backbone: nn.Module, head: nn.Linear):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class MAML(Learner):
    """Model-agnostic meta-learning with a linear head over the backbone features.

    Head size: the head has ``n_way`` outputs (``train.n_way``, set by ``build_learner``). An
    episode with fewer ways uses the first ``n`` outputs (the rows are exchangeable, since
    episode labels are a random order of classes); one with more ways is an error.

    BatchNorm in the inner loop (``bn``):

    * ``"transductive"`` (default; the reference MAML code): BatchNorm always normalises with
      the statistics of the batch it sees - the support during adaptation, the query set for
      the outer loss and for predictions - in training *and* evaluation; no running statistics
      are kept. Predictions for one query therefore depend on the other queries
      (``transductive`` is True).
    * ``"running"``: standard PyTorch behaviour. In training mode every forward pass (inner
      steps and query) uses batch statistics and updates the running averages; in evaluation
      mode adaptation and prediction use the running averages, so queries are independent.

    BatchNorm's affine weights adapt in the inner loop like every other weight (the reference
    code meta-learns its BN offsets but does not adapt them).

    Args:
        backbone: feature extractor, (B, C, H, W) -> (B, feature_dim).
        feature_dim: size of the backbone output.
        n_way: outputs of the head (the largest number of ways an episode may have).
        inner_steps: SGD steps on the support during training (5 on miniImageNet).
        inner_lr: inner step size alpha (0.01 on miniImageNet; the Meta-SGD initial value).
        eval_inner_steps: steps at evaluation (default 10, as the reference code); None = inner_steps.
        first_order: drop second-order terms (FOMAML).
        bn: ``"transductive"`` or ``"running"``, see above.
        engine: ``"learn2learn"`` (one task at a time) or ``"vectorised"`` (all tasks at once),
            see the module docstring.
    """

    uses_features = False

    def __init__(self, backbone: nn.Module, feature_dim: int, n_way: int = 5, inner_steps: int = 5,
                 inner_lr: float = 0.01, eval_inner_steps: Optional[int] = 10,
                 first_order: bool = False, bn: str = "transductive", engine: str = "learn2learn"):
        super().__init__(backbone)
        _l2l()  # fail when the learner is chosen, not at the first episode
        if bn not in BN_MODES:
            raise ValueError(f"{type(self).__name__} option bn must be one of {BN_MODES}, got {bn!r}")
        if engine not in fm.ENGINES:
            raise ValueError(f"{type(self).__name__} option engine (model.options.engine) must be one of "
                             f"{fm.ENGINES}, got {engine!r}")
        self.engine = engine
        for name, value in (("feature_dim", feature_dim), ("n_way", n_way), ("inner_steps", inner_steps),
                            ("eval_inner_steps", inner_steps if eval_inner_steps is None else eval_inner_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__} option {name} must be an integer >= 1, got {value!r}")
        try:  # YAML reads 1e-2 (no dot) as a string
            lr = float(inner_lr)
        except (TypeError, ValueError):
            lr = float("nan")
        if not lr > 0:
            raise ValueError(f"{type(self).__name__} option inner_lr must be a number > 0, got {inner_lr!r}")
        inner_lr = lr
        self.head = nn.Linear(feature_dim, n_way)
        self.inner_steps, self.inner_lr, self.first_order, self.bn = inner_steps, inner_lr, first_order, bn
        self.eval_inner_steps = inner_steps if eval_inner_steps is None else eval_inner_steps
        self.transductive = bn == "transductive"
        if self.transductive:
            use_batch_statistics(backbone)
        self._adapted: Optional[tuple] = None

    # ------------------------------------------------------------------ variant hooks
    def _adaptable(self) -> nn.Module:
        """The part of the network the inner loop adapts (everything, for MAML)."""
        return _Classifier(self.backbone, self.head)

    def _algorithm(self):
        """A fresh learn2learn wrapper around the shared weights (cheap: no copies)."""
        return _l2l().algorithms.MAML(self._adaptable(), lr=self.inner_lr, first_order=self.first_order)

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """What the adapted module receives: images for MAML, features for ANIL."""
        return x

    def _step_sizes(self) -> Dict[str, object]:
        """Name (in ``_adaptable()``) -> inner step size, for the vectorised engine."""
        return {k: self.inner_lr for k, _ in self._adaptable().named_parameters()}

    def _inputs_pair(self, support: Optional[torch.Tensor], query: Optional[torch.Tensor]) -> tuple:
        """``_inputs`` of T tasks' support (T, n_s, ...) and query (T, n_q, ...); either may be None."""
        return support, query

    # ------------------------------------------------------------------ inner loop
    def _check_ways(self, n_way: int) -> None:
        if n_way > self.head.out_features:
            raise ValueError(
                f"{type(self).__name__}'s head has {self.head.out_features} outputs (train.n_way) but this "
                f"episode has {n_way} ways; train with train.n_way >= {n_way} or evaluate with "
                f"eval.n_way <= {self.head.out_features}")

    def adapt(self, support: torch.Tensor, support_labels: torch.Tensor, n_way: int,
              steps: int, second_order: bool):
        """Clone the adaptable weights and take ``steps`` SGD steps on the support loss.

        Args:
            support: (n_support, C, H, W) images (or (n_support, D) features for ANIL).
            support_labels: (n_support,) in 0..n_way-1.
            second_order: keep the graph of the inner gradients (MAML's meta-gradient).

        Returns:
            (adapted learn2learn module, last inner loss detached).
        """
        self._check_ways(n_way)
        if self.engine == "vectorised":
            return self._adapt_vectorised(support, support_labels, n_way, steps, second_order)
        return self.adapt_on(lambda clone: F.cross_entropy(clone(support)[:, :n_way], support_labels),
                             steps, second_order)

    def adapt_on(self, support_loss, steps: int, second_order: bool):
        """The one learn2learn inner loop: clone the adaptable weights and take ``steps`` steps
        on ``support_loss(clone)`` (a scalar). Task interpolation drives it with its task
        program's loss (:mod:`fewshot.interpolation.maml_adapter`).

        Returns:
            (adapted learn2learn module, last inner loss detached).
        """
        clone = self._algorithm().clone()
        loss = torch.zeros(())
        for _ in range(steps):
            loss = support_loss(clone)
            clone.adapt(loss, first_order=not second_order)
        return clone, loss.detach()

    def adapted_parts(self, clone):
        """(backbone, head) an adapted clone classifies with: both adapted for MAML; ANIL
        adapts the head alone, on features of the shared backbone."""
        return clone.module.backbone, clone.module.head

    def episode_loss(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                     query_labels: torch.Tensor, n_way: int) -> Dict[str, torch.Tensor]:
        """Adapt on the support, return the query loss of the adapted network (the outer loss).

        Support and query go through the network separately, as in the reference code (with
        ``bn="transductive"`` each is normalised with its own statistics).
        """
        if self.engine == "vectorised":
            return self._meta_batch_loss_vectorised([(support, support_labels, query, query_labels)], n_way)
        steps = self.inner_steps if self.training else self.eval_inner_steps
        learner, inner = self.adapt(self._inputs(support), support_labels, n_way, steps,
                                    second_order=not self.first_order)
        logits = learner(self._inputs(query))[:, :n_way]
        loss = F.cross_entropy(logits, query_labels)
        acc = (logits.argmax(1) == query_labels).float().mean()
        return {"loss": loss, "ce": loss.detach(), "acc": acc.detach(), "inner_loss": inner}

    def fit_support(self, support: torch.Tensor, support_labels: torch.Tensor, n_way: int) -> None:
        """Adapt a clone on the support (needs grad enabled). In evaluation mode
        ``eval_inner_steps`` first-order steps: no meta-gradient is needed there."""
        if not torch.is_grad_enabled():
            raise RuntimeError(f"{type(self).__name__}.fit_support adapts with gradients; call it "
                               "under torch.enable_grad()")
        steps = self.inner_steps if self.training else self.eval_inner_steps
        second_order = self.training and not self.first_order
        if self.engine == "vectorised":
            recorder = fm._Recorder(self.backbone)
            inputs, _ = self._inputs_pair(support[None], None)
            params, _, inner = self._inner_vectorised(recorder, inputs, support_labels[None], n_way, steps,
                                                      second_order)
            fm.apply_running_updates(recorder, inner)
            self._adapted = (params, n_way)
            return
        learner, _ = self.adapt(self._inputs(support), support_labels, n_way, steps, second_order)
        self._adapted = (learner, n_way)

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        """query: (n_query, C, H, W) -> (n_query, n_way) logits of the adapted clone."""
        if self._adapted is None:
            raise RuntimeError("call fit_support(support, labels, n_way) before forward(query)")
        learner, n_way = self._adapted
        if self.engine == "vectorised":
            recorder = fm._Recorder(self.backbone)
            _, inputs = self._inputs_pair(None, query[None])
            logits, stats = fm.batched_forward(self._adaptable(), recorder, learner, inputs)
            fm.apply_running_updates(recorder, [stats])
            return logits[0, :, :n_way]
        return learner(self._inputs(query))[:, :n_way]

    # ------------------------------------------------------------------ vectorised engine
    @property
    def combines_tasks(self) -> bool:
        """The vectorised engine adapts the tasks of a meta-batch together (they share one shape);
        learn2learn's gets them one at a time."""
        return self.engine == "vectorised"

    def meta_batch_loss(self, tasks, n_way: int) -> Dict[str, torch.Tensor]:
        """Mean over the tasks of :meth:`episode_loss`; all tasks at once on the vectorised engine."""
        if self.engine == "vectorised":
            return self._meta_batch_loss_vectorised(tasks, n_way)
        return super().meta_batch_loss(tasks, n_way)

    def _inner_vectorised(self, recorder, inputs: torch.Tensor, labels: torch.Tensor, n_way: int, steps: int,
                          second_order: bool, track: Optional[bool] = None):
        """``functional_maml.inner_loop`` on the adaptable weights; ``track`` defaults to training mode."""
        theta = dict(self._adaptable().named_parameters())
        return fm.inner_loop(self._adaptable(), recorder, theta, self._step_sizes(), inputs, labels, n_way,
                             steps, second_order, track=self.training if track is None else track)

    def _adapt_vectorised(self, support, support_labels, n_way, steps, second_order):
        """``adapt`` of one task on the vectorised engine: (name -> adapted weights dict, loss)."""
        recorder = fm._Recorder(self.backbone)
        params, loss, passes = self._inner_vectorised(recorder, support[None], support_labels[None], n_way,
                                                      steps, second_order)
        fm.apply_running_updates(recorder, passes)
        return {k: v[0] for k, v in params.items()}, loss[0]

    def _meta_batch_loss_vectorised(self, tasks, n_way: int) -> Dict[str, torch.Tensor]:
        """tasks: B tuples (support, support_labels, query, query_labels) of one shape."""
        self._check_ways(n_way)
        xs, ys, xq, yq = fm.stack_tasks(tasks)
        steps = self.inner_steps if self.training else self.eval_inner_steps
        recorder = fm._Recorder(self.backbone)
        support, query = self._inputs_pair(xs, xq)
        params, inner, passes = self._inner_vectorised(recorder, support, ys, n_way, steps,
                                                       second_order=not self.first_order, track=True)
        logits, stats = fm.batched_forward(self._adaptable(), recorder, params, query)
        # learn2learn's order, per task: the inner steps' passes, then the query's
        fm.apply_running_updates(recorder, passes + [stats])
        losses = fm.task_losses(logits, yq, n_way)
        acc = (logits[..., :n_way].argmax(-1) == yq).float().mean()
        loss = losses.mean()
        return {"loss": loss, "ce": loss.detach(), "acc": acc.detach(), "inner_loss": inner.mean()}

    def adapt_many(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                   n_way: int, chunk: Optional[int] = None) -> torch.Tensor:
        """Adapt to E episodes of one shape and classify their queries, as ``fit_support`` then
        ``forward`` would episode by episode (the batched evaluation hook).

        Args:
            support: (E, n_support, C, H, W); support_labels: (E, n_support); query: (E, n_query, C, H, W).
            chunk: episodes adapted at once (vectorised engine); None picks it from a memory budget
                (``functional_maml.EVAL_MEMORY_BUDGET`` bytes of activations).

        Returns:
            (E, n_query, n_way) logits, detached.
        """
        n_episodes = support.shape[0]
        if self.engine != "vectorised":
            return super().adapt_many(support, support_labels, query, n_way, chunk)
        if chunk is None:
            chunk = fm.auto_chunk(self.backbone, support[0, :1], support.shape[1] + query.shape[1])
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk (eval.chunk) must be an integer >= 1, got {chunk!r}")
        self._check_ways(n_way)
        steps = self.inner_steps if self.training else self.eval_inner_steps
        second_order = self.training and not self.first_order
        out = []
        for part in fm.chunks(n_episodes, chunk):
            recorder = fm._Recorder(self.backbone)
            with torch.set_grad_enabled(self.training):  # ANIL's features: no graph needed to evaluate
                inputs, inputs_q = self._inputs_pair(support[part], query[part])
            with torch.enable_grad():
                params, _, passes = self._inner_vectorised(recorder, inputs, support_labels[part], n_way, steps,
                                                           second_order)
            with torch.no_grad():
                logits, stats = fm.batched_forward(self._adaptable(), recorder, params, inputs_q)
            fm.apply_running_updates(recorder, passes + [stats])
            out.append(logits[..., :n_way].detach())
        return torch.cat(out)


class FOMAML(MAML):
    """First-order MAML: ``MAML(..., first_order=True)``."""

    def __init__(self, backbone: nn.Module, feature_dim: int, first_order: bool = True, **kwargs):
        super().__init__(backbone, feature_dim, first_order=first_order, **kwargs)


class ANIL(MAML):
    """Almost No Inner Loop: only the head adapts; the backbone learns in the outer loop.

    With ``bn="running"`` the features of an episode do not depend on the episode (evaluation
    mode), so evaluation may embed a split once and adapt the head on cached features
    (``uses_features`` is True, ``logits_from_features`` is exact). With ``bn="transductive"``
    features depend on the batch, so evaluation goes episode by episode.
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, **kwargs):
        super().__init__(backbone, feature_dim, **kwargs)
        self.uses_features = self.bn == "running"

    def _adaptable(self) -> nn.Module:
        return self.head

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)

    def adapted_parts(self, clone):
        return self.backbone, clone

    def _inputs_pair(self, support: Optional[torch.Tensor], query: Optional[torch.Tensor]) -> tuple:
        """Features task by task (support, then query, as learn2learn's loop embeds them, so
        running statistics move in its order): the backbone's weights are shared, so batching
        over tasks would only add work."""
        zs, zq = [], []
        for t in range(len(support if support is not None else query)):
            if support is not None:
                zs.append(self.embed(support[t]))
            if query is not None:
                zq.append(self.embed(query[t]))
        return (torch.stack(zs) if zs else None), (torch.stack(zq) if zq else None)

    def logits_from_features(self, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor,
                             n_way: int) -> torch.Tensor:
        """zs: (n_support, D), ys: (n_support,), zq: (n_query, D) -> (n_query, n_way) logits
        of a head adapted on ``zs`` (gradients are enabled here even under ``no_grad``)."""
        steps = self.inner_steps if self.training else self.eval_inner_steps
        with torch.enable_grad():
            head, _ = self.adapt(zs, ys, n_way, steps, second_order=self.training and not self.first_order)
        if self.engine == "vectorised":
            return torch.func.functional_call(self.head, head, (zq,))[:, :n_way]
        return head(zq)[:, :n_way]

    def logits_from_features_many(self, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int,
                                  chunk: Optional[int] = None) -> torch.Tensor:
        """``logits_from_features`` of E episodes at once (the batched feature-cached evaluation hook).

        Args:
            zs: (E, n_support, D); ys: (E, n_support); zq: (E, n_query, D).
            chunk: episodes adapted at once (vectorised engine); None: all of them.

        Returns:
            (E, n_query, n_way) logits, detached.
        """
        if self.engine != "vectorised":
            return super().logits_from_features_many(zs, ys, zq, n_way, chunk)
        chunk = len(zs) if chunk is None else chunk
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk (eval.chunk) must be an integer >= 1, got {chunk!r}")
        self._check_ways(n_way)
        steps = self.inner_steps if self.training else self.eval_inner_steps
        out = []
        for part in fm.chunks(len(zs), chunk):
            recorder = fm._Recorder(self.head)
            with torch.enable_grad():
                params, _, _ = self._inner_vectorised(recorder, zs[part].detach(), ys[part], n_way, steps,
                                                      self.training and not self.first_order)
            with torch.no_grad():
                logits, _ = fm.batched_forward(self.head, recorder, params, zq[part])
            out.append(logits[..., :n_way].detach())
        return torch.cat(out)


class MetaSGD(MAML):
    """Meta-SGD: MAML with a learnt step size per weight (``inner_lrs``, same shapes as the
    weights). The paper takes one inner step; set ``inner_steps`` accordingly."""

    def __init__(self, backbone: nn.Module, feature_dim: int, inner_steps: int = 1, **kwargs):
        super().__init__(backbone, feature_dim, inner_steps=inner_steps, **kwargs)
        self.inner_lrs = nn.ParameterList(
            [nn.Parameter(torch.full_like(p, self.inner_lr)) for p in self._adaptable().parameters()])

    def _algorithm(self):
        return _l2l().algorithms.MetaSGD(self._adaptable(), lrs=self.inner_lrs, first_order=self.first_order)

    def _step_sizes(self) -> Dict[str, object]:
        names = [k for k, _ in self._adaptable().named_parameters()]
        return dict(zip(names, self.inner_lrs))

"""The MAML family's inner loop vectorised over tasks (``model.options.engine: vectorised``).

learn2learn clones the network and adapts one task at a time. Here the T tasks of a meta-batch
(or E test episodes) are adapted at once: the adapted weights are stacked along a leading task
dimension, one forward pass runs every task (Conv4 / ResNet-12 with a linear head as channel
groups, :mod:`._grouped`: one grouped convolution per layer; any other module through
``torch.func.vmap(functional_call(...))``; ANIL's head as one batched matrix product), and one
``torch.autograd.grad`` of the *sum* of the per-task support losses gives every task its own
gradient (the tasks share no computation, so d sum / d theta_t = d L_t / d theta_t). The graph
of the inner steps is kept for second-order MAML, exactly as learn2learn keeps it, so the
meta-gradient is the same one (tests/fewshot/test_functional_maml.py checks it to 1e-5 against
learn2learn and the hand-unrolled references).

BatchNorm, as the learners define it (see :class:`fewshot.learners.maml.MAML`):

* ``bn="transductive"``: batch statistics of each task's own support / query; under ``vmap``
  every task is normalised with its own statistics, as in the per-task loop.
* ``bn="running"``: in training mode the network normalises with batch statistics and every
  forward pass moves the running averages. learn2learn's clones share the running buffers, so
  the running statistics move once per forward pass, task after task (task 1's inner steps and
  query, then task 2's, ...). An in-place buffer update cannot run under ``vmap``, so the
  forward passes here record each pass's batch mean and unbiased variance and
  :func:`apply_running_updates` replays the updates afterwards in learn2learn's order. In
  evaluation mode the running averages are used and nothing moves.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from . import _grouped

ENGINES = ("learn2learn", "vectorised")
#: default memory budget of one chunk of evaluation episodes (``adapt_many(chunk=None)``)
EVAL_MEMORY_BUDGET = 1 << 30

_BatchNorm = nn.modules.batchnorm._BatchNorm
Stats = List[Tuple[torch.Tensor, torch.Tensor]]  # per BatchNorm layer: (mean, unbiased var), (T, C) each


class _Recorder:
    """Batch statistics of the BatchNorm layers that track running statistics, per forward pass.

    While :meth:`run` runs a forward pass, those layers stop updating their buffers (``track_running_stats`` off
    in training mode: batch statistics, no in-place update) and a pre-hook records the batch
    mean and unbiased variance of their input instead.
    """

    def __init__(self, module: nn.Module):
        self.layers = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats
                       and m.running_mean is not None]
        self.recording = module.training and bool(self.layers)
        self._calls: Dict[nn.Module, Tuple[torch.Tensor, torch.Tensor]] = {}

    def _hook(self, layer, args):
        x = args[0].detach()
        dims = [0] + list(range(2, x.dim()))
        self.record(layer, x.mean(dims), x.var(dims, unbiased=True))

    def record(self, layer: nn.Module, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Batch mean and unbiased variance of ``layer``'s input in this pass."""
        if layer in self._calls:
            raise RuntimeError("the vectorised engine needs every BatchNorm used once per forward pass")
        self._calls[layer] = (mean, var)

    def tracks(self, layer: nn.Module) -> bool:
        return self.recording and layer.training and any(layer is m for m in self.layers)

    def take(self) -> Stats:
        """The statistics recorded since the last call, in layer order."""
        calls, self._calls = self._calls, {}
        if calls and len(calls) != len(self.layers):
            raise RuntimeError(f"expected one call per BatchNorm layer ({len(self.layers)}), got {len(calls)}: "
                               "the vectorised engine needs every BatchNorm used once per forward pass")
        return [calls[m] for m in self.layers] if calls else []

    def run(self, fn: Callable, *args):
        """``fn(*args)``, returning (output, stats of this call in layer order)."""
        if not self.recording:
            return fn(*args), []
        self._calls = {}
        handles = [m.register_forward_pre_hook(self._hook) for m in self.layers]
        for m in self.layers:
            m.track_running_stats = False
        try:
            out = fn(*args)
        finally:
            for m in self.layers:
                m.track_running_stats = True
            for h in handles:
                h.remove()
        return out, self.take()


def apply_running_updates(recorder: _Recorder, passes: Sequence[Stats]) -> None:
    """Move the running statistics as learn2learn's per-task loop would have: for task 0 every
    forward pass in ``passes`` (in order), then task 1, ... (``passes[f][layer]`` = (T, C) stats)."""
    passes = [stats for stats in passes if stats]
    if not recorder.recording or not passes:
        return
    n_tasks = passes[0][0][0].shape[0]
    with torch.no_grad():
        for i, m in enumerate(recorder.layers):
            for t in range(n_tasks):
                for stats in passes:
                    mean, var = stats[i]
                    m.num_batches_tracked += 1
                    factor = (1.0 / float(m.num_batches_tracked)) if m.momentum is None else m.momentum
                    m.running_mean.mul_(1 - factor).add_(mean[t].to(m.running_mean.dtype), alpha=factor)
                    m.running_var.mul_(1 - factor).add_(var[t].to(m.running_var.dtype), alpha=factor)


def batched_forward(module: nn.Module, recorder: _Recorder, params: Dict[str, torch.Tensor],
                    x: torch.Tensor) -> Tuple[torch.Tensor, Stats]:
    """Run ``module`` on every task at once.

    Args:
        params: name -> (T, *shape) per-task weights replacing the module's own (the others,
            and the buffers, are the module's, shared by the tasks).
        x: (T, n, ...) inputs of the T tasks.

    Returns:
        ((T, n, ...) outputs, recorded BatchNorm statistics of this pass).
    """

    if isinstance(module, nn.Linear) and set(params) == {"weight", "bias"}:
        # a head alone (ANIL): one batched matrix product, no vmap machinery
        return torch.baddbmm(params["bias"].unsqueeze(1), x, params["weight"].transpose(1, 2)), []
    if _grouped.supports(module):  # Conv4 / ResNet-12 + head: tasks as channel groups, no vmap
        return _grouped.forward(module, recorder, params, x), recorder.take()

    def one_task(p, xt):
        out, stats = recorder.run(functional_call, module, p, (xt,))
        return out, tuple(stats)

    out, stats = vmap(one_task)(params, x)
    return out, list(stats)


def task_losses(logits: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """logits: (T, n, out), labels: (T, n) -> (T,) mean cross-entropy of each task."""
    t, n = labels.shape
    return F.cross_entropy(logits[..., :n_way].reshape(t * n, n_way), labels.reshape(-1),
                           reduction="none").view(t, n).mean(1)


def inner_loop(module: nn.Module, recorder: _Recorder, theta: Dict[str, torch.Tensor],
               lrs: Dict[str, object], support: torch.Tensor, labels: torch.Tensor, n_way: int,
               steps: int, second_order: bool,
               track: bool) -> Tuple[Dict[str, torch.Tensor], torch.Tensor, List[Stats]]:
    """``steps`` SGD steps on each task's support loss, all tasks at once.

    Args:
        theta: name -> (*shape) initial weights (the meta-parameters), shared by the tasks.
        lrs: name -> step size (a float, or a tensor broadcasting against the weight: Meta-SGD).
        support: (T, n_support, ...); labels: (T, n_support) in 0..n_way-1.
        second_order: keep the graph of the inner gradients (MAML's meta-gradient).
        track: keep the path from ``theta`` to the adapted weights (training); False adapts
            detached copies (evaluation: nothing flows back to the meta-parameters).

    Returns:
        (name -> (T, *shape) adapted weights, (T,) last inner losses detached, BatchNorm
        statistics of every forward pass).
    """
    n_tasks = support.shape[0]
    params = {}
    for k, p in theta.items():
        p = p if track else p.detach()
        params[k] = p.unsqueeze(0).expand(n_tasks, *p.shape)
        if not params[k].requires_grad:
            params[k] = params[k].clone().requires_grad_(True)
    passes: List[Stats] = []
    loss = torch.zeros(n_tasks)
    for _ in range(steps):
        logits, stats = batched_forward(module, recorder, params, support)
        passes.append(stats)
        loss = task_losses(logits, labels, n_way)
        grads = torch.autograd.grad(loss.sum(), list(params.values()), create_graph=second_order,
                                    allow_unused=True)
        new = {}
        for (k, p), g in zip(params.items(), grads):
            if g is None:
                new[k] = p
                continue
            if not second_order:
                g = g.detach()
            new[k] = p - lrs[k] * g
            if not track:
                new[k] = new[k].detach().requires_grad_(True)
        params = new
    return params, loss.detach(), passes


def stack_tasks(tasks: Sequence[Tuple[torch.Tensor, ...]]) -> Tuple[torch.Tensor, ...]:
    """B episodes (support, support_labels, query, query_labels) of one shape -> four stacked tensors."""
    shapes = {tuple(tuple(t.shape) for t in task) for task in tasks}
    if len(shapes) != 1:
        raise ValueError("the vectorised engine adapts the tasks of a meta-batch together, so they must share "
                         f"one shape; got {len(shapes)} different shapes. Use train.episode_kind: fixed, "
                         "train.meta_batch: 1, or model.options.engine: learn2learn")
    return tuple(torch.stack(list(parts)) for parts in zip(*tasks))


def auto_chunk(module: nn.Module, example: torch.Tensor, per_episode: int,
               budget: int = EVAL_MEMORY_BUDGET) -> int:
    """Episodes per evaluation chunk that fit ``budget`` bytes of activations.

    Measures the outputs of every leaf module for one input ``example`` (1, ...) and counts
    ``per_episode`` such inputs, three times over (forward, saved tensors, gradients).
    """
    sizes: List[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel() * out.element_size()))
             for m in module.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            module(example)
    finally:
        for h in hooks:
            h.remove()
    per = 3 * per_episode * max(1, sum(sizes))
    return max(1, int(budget // per))


def chunks(n: int, chunk: int):
    """Slices of ``range(n)`` of length ``chunk``."""
    for start in range(0, n, chunk):
        yield slice(start, min(n, start + chunk))

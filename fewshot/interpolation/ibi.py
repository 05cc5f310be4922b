"""Interval-bound interpolation (IBI): bound losses, per-class interpolation, eps schedule.

Datta et al., "Interval Bound Interpolation for Few-shot Learning with Few Tasks", ICML 2023,
https://arxiv.org/abs/2204.03511. Notation: z the clean activations at block S, [l, u] the
interval bounds of the box x +- eps propagated to block S (see :mod:`.ibp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .ibp import block_bounds, missing_rule
from .programs import Plain, View, run_from


def bound_losses(z: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(L_UB, L_LB) = (MSE(u, z), MSE(l, z))``: how far the bounds lie from the task.

    Minimising them keeps the eps-neighbourhood of a task small in feature space.
    """
    return F.mse_loss(upper, z), F.mse_loss(lower, z)


def softmax_weighted(terms: Sequence[torch.Tensor], temperature: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """``sum_i w_i L_i`` with ``w = softmax([L_1, ..., L_k] / T)`` (weights *not* detached,
    as in the paper's code): the largest term gets the most weight, and a high T tends to
    the plain mean.

    Args:
        terms: k scalar losses, e.g. ``[CE, L_UB, L_LB]``.
        temperature: T > 0.

    Returns:
        ``(total, weights)``: a scalar and the (k,) weights.
    """
    if not temperature > 0:
        raise ValueError(f"softmax temperature must be > 0, got {temperature}")
    stacked = torch.stack([t.reshape(()) for t in terms])
    weights = torch.softmax(stacked / temperature, dim=0)
    return (weights * stacked).sum(), weights


def draw_class_weights(n_way: int, a: float, b: float, generator: torch.Generator = None,
                       device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per class: ``lambda_c ~ Beta(a, b)`` and ``b_c ~ Bernoulli(1/2)`` (upper or lower bound).

    Draws from torch's generator (the global one by default), whose state a checkpoint keeps.

    Returns:
        ``(lam, pick)``: two (n_way,) float tensors; ``pick`` is 1 for the upper bound.
    """
    if not (a > 0 and b > 0):
        raise ValueError(f"Beta parameters must be > 0, got a={a}, b={b}")
    # Beta from two Gammas: torch.distributions.Beta has no generator argument.
    ga = torch._standard_gamma(torch.full((n_way,), float(a)), generator=generator)
    gb = torch._standard_gamma(torch.full((n_way,), float(b)), generator=generator)
    lam = ga / (ga + gb)
    pick = (torch.rand(n_way, generator=generator) < 0.5).float()
    return lam.to(device), pick.to(device)


def interpolate_bounds(z: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, labels: torch.Tensor,
                       lam: torch.Tensor, pick: torch.Tensor) -> torch.Tensor:
    """``z~ = (1 - lambda_c) z + lambda_c (b_c u + (1 - b_c) l)`` for every sample of class c.

    Args:
        z, lower, upper: (n, ...) activations and bounds at block S.
        labels: (n,) int64 class of each sample (0..n_way-1).
        lam, pick: (n_way,) per-class weight and bound choice (:func:`draw_class_weights`).

    Returns:
        (n, ...) interpolated activations; class labels are unchanged.
    """
    shape = (-1,) + (1,) * (z.dim() - 1)
    lam_n = lam.to(z.dtype)[labels].view(shape)
    pick_n = pick.to(z.dtype)[labels].view(shape)
    bound = pick_n * upper + (1 - pick_n) * lower
    return (1 - lam_n) * z + lam_n * bound


#: units of IBI's eps: the official code's [0, 1] pixels, or fewshot's former normalised inputs
EPS_UNITS = ("pixel", "normalised")


@dataclass(frozen=True)
class EpsSchedule:
    """``eps_t = eps * t / (ramp * T)`` for ``t < ramp * T``, then ``eps`` (ramp = 0.9 in the paper).

    Args:
        eps: final box half-width.
        total: T, the length of training (any unit, e.g. episodes).
        ramp: fraction of training spent growing eps.
    """

    eps: float
    total: int
    ramp: float = 0.9

    def __post_init__(self) -> None:
        if self.eps < 0 or self.total < 1 or not 0 <= self.ramp <= 1:
            raise ValueError(f"EpsSchedule needs eps >= 0, total >= 1 and 0 <= ramp <= 1, got "
                             f"eps={self.eps}, total={self.total}, ramp={self.ramp}")

    def __call__(self, t: int) -> float:
        end = self.ramp * self.total
        if t < end:
            return self.eps * t / end
        return float(self.eps)


class Bounds:
    """Interval bounds of ``x +- eps`` at block S, their losses, and optionally IBI.

    Views: the clean task; with ``class_weights`` also the task interpolated with its
    bounds (the rest of the network runs on both in one pass, as in the paper's code).
    Aux terms: ``ub`` = MSE(u_S, z_S), ``lb`` = MSE(l_S, z_S).

    Args:
        layers: S, the blocks the box is propagated through.
        eps: box half-width on the inputs (a float, or a tensor broadcastable to them, e.g.
            per channel).
        class_weights: None (bounds only, "IBP") or ``(lam, pick)`` per class.
    """

    def __init__(self, layers: int, eps: float, class_weights: Tuple[torch.Tensor, torch.Tensor] = None):
        self.layers, self.eps, self.class_weights = layers, eps, class_weights

    def for_inner_loop(self):
        """MAML's inner loop needs no bound terms: the plain task without interpolation, else
        the clean and interpolated task (the bounds are needed to interpolate)."""
        return Plain() if self.class_weights is None else self

    def __call__(self, backbone: nn.Module, inputs: Sequence[torch.Tensor], labels: Sequence[torch.Tensor]):
        labels = labels[0]
        z, lower, upper = block_bounds(backbone, inputs[0], self.eps, self.layers)
        ub, lb = bound_losses(z, lower, upper)
        aux = {"ub": ub, "lb": lb}
        if self.class_weights is None:
            return [View(run_from(backbone, z, self.layers), labels)], aux
        lam, pick = self.class_weights
        z_t = interpolate_bounds(z, lower, upper, labels, lam.to(z.device), pick.to(z.device))
        f = run_from(backbone, torch.cat([z, z_t]), self.layers)
        views: List[View] = [View(f[: len(z)], labels), View(f[len(z):], labels)]
        return views, aux


class IBI:
    """Interval-bound training (IBP terms) with optional interpolation (IBI) over a meta-batch.

    Per task: bounds of ``x +- eps_t`` at block S; ``L_UB``, ``L_LB``; the task loss is the
    cross-entropy of the clean task, or, for an interpolated task, the mean of the clean and
    interpolated tasks' cross-entropies; the three are combined with softmax weights of
    temperature T. For MAML the inner loop trains on the (clean + interpolated) support
    cross-entropy and the bound terms enter the outer loss, as in the paper's code.
    lambda_c and b_c are drawn once per task and class, so support and query (and every inner
    step) see the same artificial task; the paper's code redraws them at every forward pass.

    The paper's code meant to interpolate one random task per meta-batch, but draws its index
    with ``np.random.rand(0, B)`` -- an empty array -- so no task is ever interpolated there.
    Here ``tasks="one"`` interpolates one task per meta-batch as intended, ``"all"`` every task.

    Args:
        n_blocks: blocks of the backbone.
        layers: S, blocks the box is propagated through (1..n_blocks).
        eps: final box half-width, in the unit ``eps_unit`` names.
        eps_unit: ``"pixel"`` (default, the official code's): eps is in [0, 1] pixel units, the
            box the official code builds before any normalisation; on normalised inputs it is
            ``eps / std`` per channel, so ``input_std`` is needed. ``"normalised"``: eps is
            applied to the normalised inputs as given (``eps`` pixel standard deviations; the
            unit fewshot used before, a box ``std`` times smaller than the paper's for the same eps).
        input_std: per-channel pixel std of the normalised inputs (``Normalizer.std``, shape
            broadcastable to (1, C, 1, 1)); fewshot's trainer passes it.
        temperature: T of the softmax weighting.
        a, b: lambda_c ~ Beta(a, b).
        interpolate: False trains with the bound terms only ("IBP").
        tasks: ``"one"`` or ``"all"`` tasks per meta-batch are interpolated.
        total_episodes: length of training for the eps schedule (None: eps from the start).
        ramp: fraction of training over which eps grows linearly from 0.
    """

    def __init__(self, n_blocks: int, layers: int = 1, eps: float = 0.1, temperature: float = 1.0,
                 a: float = 2.0, b: float = 2.0, interpolate: bool = True, tasks: str = "one",
                 total_episodes: int = None, ramp: float = 0.9, eps_unit: str = "pixel",
                 input_std=None):
        if eps_unit not in EPS_UNITS:
            raise ValueError(f"IBI eps_unit must be one of {', '.join(EPS_UNITS)}, got {eps_unit!r}")
        if isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= n_blocks:
            raise ValueError(f"IBI layers (S) must be an integer in 1..{n_blocks}, got {layers!r}")
        if tasks not in ("one", "all"):
            raise ValueError(f"IBI tasks must be 'one' or 'all', got {tasks!r}")
        if not temperature > 0 or not (a > 0 and b > 0):
            raise ValueError(f"IBI needs temperature > 0 and a, b > 0, got {temperature}, {a}, {b}")
        self.layers, self.temperature, self.a, self.b = layers, float(temperature), float(a), float(b)
        self.interpolate, self.tasks = bool(interpolate), tasks
        self.schedule = EpsSchedule(float(eps), int(total_episodes or 1), ramp if total_episodes else 0.0)
        self.eps_unit = eps_unit
        self.input_std = None if input_std is None else torch.as_tensor(input_std, dtype=torch.float32)

    def check(self, backbone: nn.Module) -> None:
        """Refuse, when the learner is built, a backbone whose first ``layers`` blocks hold a
        layer without an interval bound rule (rather than failing at the first training step)."""
        found = missing_rule(backbone, self.layers)
        if found:
            block, name = found
            raise ValueError(f"IBI propagates interval bounds through the first {self.layers} block(s) of the "
                             f"backbone, but block {block} holds a {name}, which has no interval bound rule; "
                             f"set model.options.interpolation.layers below {block}, use a backbone whose "
                             "blocks have rules (conv4, resnet12), or register one with "
                             "fewshot.interpolation.register_interval_rule")

    def radius(self, eps: float, like: torch.Tensor):
        """The box half-width on the (normalised) inputs ``like`` for a nominal ``eps``."""
        if self.eps_unit == "normalised":
            return eps
        if self.input_std is None:
            raise ValueError("IBI eps_unit 'pixel' (eps in [0, 1] pixel units, the paper's) needs the "
                             "inputs' pixel std: pass input_std= (Normalizer.std; fewshot train does), "
                             "or set model.options.interpolation.eps_unit: normalised")
        std = self.input_std.to(like.device, like.dtype).reshape(1, -1, *([1] * (like.dim() - 2)))
        return eps / std

    def _combine(self, ce, aux):
        total, _ = softmax_weighted([ce, aux["ub"], aux["lb"]], self.temperature)
        return total

    def meta_batch_loss(self, adapter, batch, n_way: int, rng, progress: int = 0):
        """Mean loss over the tasks of ``batch``; ``progress`` (episodes so far) sets eps."""
        eps = self.schedule(progress)
        if not self.interpolate:
            chosen = set()
        elif self.tasks == "all":
            chosen = set(range(batch.n_tasks))
        else:
            chosen = {int(rng.integers(batch.n_tasks))}
        losses, logs = [], []
        for i in range(batch.n_tasks):
            weights = draw_class_weights(n_way, self.a, self.b) if i in chosen else None
            xs, ys, xq, yq = batch.task(i)
            bounds = Bounds(self.layers, self.radius(eps, xs), weights)
            loss, log = adapter.task_loss(bounds, (xs,), (ys,), (xq,), (yq,), n_way, self._combine)
            losses.append(loss)
            logs.append(log)
        result = {"loss": torch.stack(losses).mean()}
        for key in logs[0]:
            result[key] = torch.stack([log[key] for log in logs]).mean()
        result["eps"] = torch.tensor(eps)
        result["mixed_tasks"] = torch.tensor(float(len(chosen)))
        return result

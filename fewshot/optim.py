"""Optimisers, learning-rate schedules and gradient clipping as plain functions of their options.

``build_optimizer(params, "adam", lr=t.lr, weight_decay=t.weight_decay)`` plus
``build_schedule(opt, "step", step_size=t.lr_step, gamma=t.lr_gamma)`` build exactly the
``torch.optim.Adam`` + ``StepLR`` the episodic loop has always used (same classes, same
state_dict layout, so existing checkpoints resume). Schedules are stepped once per episode (or
per batch in pre-training) by the caller; ``total_steps``, ``warmup_steps``, ``step_size`` and
``milestones`` count those calls.

Learning rate after ``t`` calls of ``schedule.step()`` (base rate ``lr``):

* ``step``:      lr * gamma ** (t // step_size)
* ``multistep``: lr * gamma ** (number of milestones <= t)
* ``cosine``:    lr * (min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2),
  p = min(1, (t - warmup_steps) / (total_steps - warmup_steps))
* warm-up (any schedule): for t < warmup_steps the rate above times (t + 1) / warmup_steps:
  linear from lr / warmup_steps to lr. ``step`` / ``multistep`` count t from the start of
  training (warm-up included); ``cosine`` decays over the steps after the warm-up.

This module is a leaf: it imports nothing from fewshot.
"""

from __future__ import annotations

import bisect
import math
from typing import Iterable, Optional, Sequence

import torch

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("step", "multistep", "cosine")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def build_optimizer(params: Iterable, name: str = "adam", lr: float = 1e-3, momentum: float = 0.9,
                    nesterov: bool = False, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The optimiser ``name`` over ``params`` (parameters or parameter groups).

    Args:
        name: ``"adam"`` (torch's Adam: L2 weight decay added to the gradient), ``"adamw"``
            (decoupled weight decay) or ``"sgd"``.
        lr: learning rate (> 0).
        momentum: SGD momentum in [0, 1); ignored by adam / adamw (their betas are torch's).
        nesterov: Nesterov momentum (SGD only; needs momentum > 0).
        weight_decay: >= 0.
    """
    _check(name in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")
    _check(isinstance(lr, (int, float)) and lr > 0, f"optimizer lr must be > 0, got {lr!r}")
    _check(isinstance(weight_decay, (int, float)) and weight_decay >= 0,
           f"optimizer weight_decay must be >= 0, got {weight_decay!r}")
    if name == "sgd":
        _check(isinstance(momentum, (int, float)) and 0 <= momentum < 1,
               f"sgd momentum must be in [0, 1), got {momentum!r}")
        _check(not nesterov or momentum > 0, "sgd nesterov=True needs momentum > 0")
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=bool(nesterov),
                               weight_decay=weight_decay)
    _check(not nesterov, f"nesterov applies to sgd only, not to {name!r}")
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, weight_decay=weight_decay)


def _warmup(t: int, warmup_steps: int) -> float:
    return (t + 1) / warmup_steps if t < warmup_steps else 1.0


def schedule_factor(t: int, name: str, total_steps: Optional[int] = None, warmup_steps: int = 0,
                    step_size: Optional[int] = None, gamma: float = 0.1, milestones: Sequence[int] = (),
                    min_ratio: float = 0.0) -> float:
    """The multiplier of the base learning rate after ``t`` scheduler steps (the formulas above)."""
    if name == "step":
        main = gamma ** (t // step_size)
    elif name == "multistep":
        main = gamma ** bisect.bisect_right(list(milestones), t)
    else:
        progress = min(1.0, max(0.0, (t - warmup_steps) / (total_steps - warmup_steps)))
        main = min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return main * _warmup(t, warmup_steps)


def build_schedule(optimizer: torch.optim.Optimizer, name: str = "step", total_steps: Optional[int] = None,
                   warmup_steps: int = 0, step_size: Optional[int] = None, gamma: float = 0.1,
                   milestones: Sequence[int] = (), min_ratio: float = 0.0) -> torch.optim.lr_scheduler.LRScheduler:
    """A learning-rate schedule over ``optimizer`` (see the module docstring for the formulas).

    Without warm-up, ``step`` and ``multistep`` are torch's ``StepLR`` / ``MultiStepLR``; every
    other combination is a ``LambdaLR`` over :func:`schedule_factor` (closed form, no drift; its
    state_dict holds only numbers).

    Args:
        name: ``"step"``, ``"multistep"`` or ``"cosine"``.
        total_steps: steps of the whole run (cosine: where the rate reaches its minimum).
        warmup_steps: linear warm-up steps (0: none).
        step_size: ``step``: steps between decays.
        gamma: ``step`` / ``multistep``: decay factor in (0, 1].
        milestones: ``multistep``: increasing steps where the rate is multiplied by ``gamma``.
        min_ratio: ``cosine``: final rate / base rate, in [0, 1).
    """
    _check(name in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}; got {name!r}")
    _check(isinstance(warmup_steps, int) and not isinstance(warmup_steps, bool) and warmup_steps >= 0,
           f"schedule warmup_steps must be an integer >= 0, got {warmup_steps!r}")
    if name == "step":
        _check(isinstance(step_size, int) and not isinstance(step_size, bool) and step_size >= 1,
               f"schedule 'step' needs step_size, an integer >= 1; got {step_size!r}")
    if name in ("step", "multistep"):
        _check(isinstance(gamma, (int, float)) and 0 < gamma <= 1, f"schedule gamma must be in (0, 1], got {gamma!r}")
    if name == "multistep":
        ms = list(milestones)
        _check(bool(ms) and all(isinstance(m, int) and m >= 1 for m in ms) and ms == sorted(set(ms)),
               f"schedule 'multistep' needs milestones, increasing integers >= 1; got {list(milestones)!r}")
    if name == "cosine":
        _check(isinstance(total_steps, int) and total_steps > warmup_steps,
               f"schedule 'cosine' needs total_steps, an integer > warmup_steps ({warmup_steps}); got {total_steps!r}")
        _check(0 <= min_ratio < 1, f"schedule 'cosine' min_ratio must be in [0, 1), got {min_ratio!r}")
    if warmup_steps == 0 and name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if warmup_steps == 0 and name == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)
    options = dict(name=name, total_steps=total_steps, warmup_steps=warmup_steps, step_size=step_size,
                   gamma=gamma, milestones=tuple(milestones), min_ratio=min_ratio)

    def factor(t: int) -> float:
        return schedule_factor(t, **options)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def clip_gradients(parameters: Iterable[torch.nn.Parameter], max_norm: Optional[float]) -> Optional[torch.Tensor]:
    """Clip the global gradient norm of ``parameters`` to ``max_norm`` (``None`` or 0: no clipping).

    Returns:
        the total norm before clipping (a scalar tensor), or None when clipping is off.
    """
    if not max_norm:
        return None
    _check(isinstance(max_norm, (int, float)) and max_norm > 0, f"grad_clip must be > 0, got {max_norm!r}")
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)


__all__ = ["OPTIMIZERS", "SCHEDULES", "build_optimizer", "build_schedule", "clip_gradients", "schedule_factor"]

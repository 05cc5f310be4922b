"""What a resumed run may change, and applying it: a setting is applied or refused, never
recorded and ignored.

``fewshot train --resume RUN key=value ...`` compares the config it would continue with against
the one the checkpoint was written with. Keys in :data:`RESUME_MAY_CHANGE` are applied (the
learning rate and schedule go into the restored optimiser and scheduler, more ``train.episodes``
extend a finished run, logging and checkpoint periods are read by the loop) and recorded in
``run.json``; any other difference is refused with the list of what may change, because it
would make the resumed run something other than the run its folder describes (other data,
another model, other training episodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

from ..runs.checkpoint import CheckpointError

#: Dotted config keys (or whole sections / option dicts, e.g. ``"eval"``) a resume may change.
#: Extend it when a new key can be applied to a restored run; every other key must match.
RESUME_MAY_CHANGE = frozenset({
    "train.lr", "train.lr_step", "train.lr_gamma", "train.weight_decay", "train.episodes",
    "train.log_every", "train.val_every", "train.ckpt_every", "train.keep_last", "train.progress",
    "train.tensorboard", "train.threads", "train.device", "train.deterministic", "train.prefetch",
    "train.data_on_device",
    "eval",  # validation and the final evaluation use the new values from now on
})
#: Option-dict entries that say how data is loaded, not which data (ignored when compared).
LOADING_OPTIONS = {"data.options": ("progress", "workers")}

Changes = Dict[str, Tuple[Any, Any]]


def _flatten(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """``{"train": {"lr": ...}}`` -> ``{"train.lr": ...}``; option dicts stay whole values."""
    return {f"{section}.{k}": v for section, values in cfg.items() if isinstance(values, dict)
            for k, v in values.items()}


def _comparable(key: str, value: Any) -> Any:
    ignored = LOADING_OPTIONS.get(key, ())
    return {k: v for k, v in value.items() if k not in ignored} if isinstance(value, dict) and ignored else value


def may_change(key: str) -> bool:
    parts = key.split(".")
    return any(".".join(parts[:i]) in RESUME_MAY_CHANGE for i in range(1, len(parts) + 1))


def resume_changes(saved: Dict[str, Any], now: Dict[str, Any], path: Path, position: int) -> Changes:
    """``{key: (checkpoint's value, new value)}`` of every difference between the checkpoint's
    config ``saved`` and the config ``now`` (both as dicts); keys the checkpoint predates are
    taken as unchanged, option dicts are compared whole (without :data:`LOADING_OPTIONS`).

    Raises:
        CheckpointError: a key outside :data:`RESUME_MAY_CHANGE` differs, or ``train.episodes``
            is below the checkpoint's position ``position``.
    """
    old, new = _flatten(saved), _flatten(now)
    changes = {k: (old[k], v) for k, v in new.items() if k in old and _comparable(k, old[k]) != _comparable(k, v)}
    refused = sorted(k for k in changes if not may_change(k))
    if refused:
        listing = "; ".join(f"{k}={changes[k][0]!r} (now {changes[k][1]!r})" for k in refused)
        allowed = ", ".join(sorted(RESUME_MAY_CHANGE))
        raise CheckpointError(f"cannot resume {str(path)!r} with other settings: it was written with {listing}. "
                              f"A resume continues the same run and may change only {allowed}; start a new "
                              "run (another run.name) to change the rest")
    if "train.episodes" in changes and changes["train.episodes"][1] < position:
        raise CheckpointError(f"{str(path)!r} is at episode {position}; train.episodes="
                              f"{changes['train.episodes'][1]} would end the run before it. Give "
                              f"train.episodes >= {position} (more episodes extend a finished run)")
    return changes


def apply_changes(changes: Changes, state: Dict[str, Any], opt, sched, path: Path) -> None:
    """Put the changed learning rate, schedule and weight decay into the restored optimiser and
    scheduler (so training continues with them), and stretch the sampler state to the new
    ``train.episodes``. Call after ``opt`` / ``sched`` were loaded, before the sampler is."""
    if "train.episodes" in changes and "n_episodes" in state["sampler"]:
        # episode i is drawn from (seed, epoch, i): more episodes continue the same sequence
        state["sampler"] = {**state["sampler"], "n_episodes": changes["train.episodes"][1]
                            if state["sampler"].get("world_size", 1) == 1 else state["sampler"]["n_episodes"]}
    if "train.weight_decay" in changes:
        for group in opt.param_groups:
            group["weight_decay"] = changes["train.weight_decay"][1]
    for key, attr in (("train.lr_step", "step_size"), ("train.lr_gamma", "gamma")):
        if key in changes:
            if not hasattr(sched, attr):
                raise CheckpointError(f"{str(path)!r}: this run's schedule ({type(sched).__name__}) has no "
                                      f"{key.split('.')[1]} to change on resume; start a new run to change it")
            setattr(sched, attr, changes[key][1])
    if "train.lr" in changes:
        old, new = changes["train.lr"]
        ratio = new / old  # the schedule's base learning rate; its decay so far is kept
        sched.base_lrs = [b * ratio for b in sched.base_lrs]
        for group in opt.param_groups:
            group["lr"] *= ratio
            if "initial_lr" in group:
                group["initial_lr"] *= ratio
    if ("train.lr_step" in changes or "train.lr_gamma" in changes) and hasattr(sched, "_get_closed_form_lr"):
        for group, lr in zip(opt.param_groups, sched._get_closed_form_lr()):
            group["lr"] = lr
    sched._last_lr = [group["lr"] for group in opt.param_groups]


__all__ = ["LOADING_OPTIONS", "RESUME_MAY_CHANGE", "apply_changes", "may_change", "resume_changes"]

"""Checkpoints: atomic writes, safe loads, and turning a run folder or checkpoint back into a learner.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)``: loading never executes code from the file.

Every write goes to a temporary file in the same folder, is fsynced, then renamed over the
target, so a process killed at any moment (even by SIGKILL) leaves either the old complete file
or the new complete file. A killed write can leave its temporary file behind;
:func:`remove_stale_temporaries` clears those when the run resumes.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch

from ..atomic import atomic_write
from ..config import Config, config_from_dict
from ..registry import import_plugins
from .build import build_learner
from .inputs import Normalizer

FORMAT = "fewshot-checkpoint-v1"



class CheckpointError(RuntimeError):
    """A checkpoint that cannot or must not be loaded."""


def save_checkpoint(state: Dict[str, Any], path: Union[str, Path]) -> Path:
    """Write ``state`` atomically: a kill at any moment leaves the old file or the new one."""
    def write(f) -> None:
        try:
            torch.save(state, f)
        except RuntimeError as err:  # torch's zip writer wraps the failed write of the file
            if isinstance(err.__context__, OSError):
                raise err.__context__ from None  # e.g. ENOSPC; atomic_write names the file
            if "unexpected pos" in str(err) or "failed writing" in str(err):
                raise OSError(errno.ENOSPC, "No space left on device (the checkpoint writer stopped "
                                            "midway)") from None
            raise

    return atomic_write(path, write)


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load a fewshot checkpoint with ``weights_only=True``; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncated files, foreign objects
        text = str(err)
        found = re.search(r"WeightsUnpickler error: ([^\n]*)", text)  # the reason, without torch's hints
        msg = found.group(1).strip() if found else (text.splitlines()[0] if text.strip() else "")
        msg = f"{type(err).__name__}: {msg}" if msg else type(err).__name__
        if "Unsupported global" in text:  # it names a Python callable to run: not a fewshot checkpoint
            raise CheckpointError(
                f"refusing to load {str(path)!r}: it contains pickled Python objects, which could run "
                f"arbitrary code. fewshot checkpoints hold only tensors and plain values ({msg})"
            ) from None
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: it is truncated or corrupt ({msg}). "
                              "Use another checkpoint of the run (best.pt, last.pt, episode-*.pt)") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{str(path)!r} is not a fewshot checkpoint (expected keys "
                              "'model' and 'config')")
    for key in ("model", "config"):
        if not isinstance(state[key], dict):
            raise CheckpointError(f"{str(path)!r} is not a complete fewshot checkpoint: its {key!r} entry is "
                                  f"a {type(state[key]).__name__}, expected a dict")
    return state


#: What every checkpoint holds (key -> type), and what resuming needs besides.
STATE_TYPES = {"model": dict, "config": dict, "norm": dict, "in_channels": int}
RESUME_TYPES = {"episode": int, "optimizer": dict, "scheduler": dict, "sampler": dict, "rng": dict,
                "grads": dict, "window": dict, "metrics_offset": int}


def check_state(state: Dict[str, Any], path: Union[str, Path], resume: bool = False) -> None:
    """Refuse a checkpoint whose entries are missing or of the wrong kind (edited by hand,
    written by another tool) before anything uses it, naming the entry: what rebuilding the
    learner needs, and with ``resume`` what continuing the run needs."""
    wanted = {**STATE_TYPES, **(RESUME_TYPES if resume else {})}
    for key, kind in wanted.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            got = "missing" if key not in state else f"a {type(state[key]).__name__}"
            raise CheckpointError(f"{str(path)!r} is not a complete fewshot checkpoint: its {key!r} entry is "
                                  f"{got}, expected a {kind.__name__}" + (" (a checkpoint to resume from holds "
                                  "the optimiser, scheduler, sampler and RNG states)" if resume else ""))
    norm = state["norm"]
    if not all(isinstance(norm.get(k), list) and norm[k] for k in ("mean", "std")):
        raise CheckpointError(f"{str(path)!r} is not a complete fewshot checkpoint: its 'norm' entry needs "
                              "lists 'mean' and 'std'")


def describe(state: Dict[str, Any]) -> str:
    """One phrase saying what a checkpoint holds: learner, backbone, width, channels."""
    model = state.get("config", {}).get("model", {})
    return (f"learner {state.get('learner', model.get('learner'))!r} with backbone "
            f"{state.get('backbone', model.get('backbone'))!r} (width {model.get('width')}, "
            f"{state.get('in_channels')} input channels)")


def check_compatible(state: Dict[str, Any], cfg: Config, path: Union[str, Path]) -> None:
    """Refuse to resume ``cfg`` from a checkpoint written for another model, saying what it is."""
    model = state.get("config", {}).get("model", {})
    wanted = {"learner": cfg.model.learner, "backbone": cfg.model.backbone, "width": cfg.model.width,
              "distance": cfg.model.distance}
    held = {"learner": state.get("learner", model.get("learner")),
            "backbone": state.get("backbone", model.get("backbone")),
            "width": model.get("width"), "distance": model.get("distance")}
    diff = [f"model.{k}={held[k]!r} (config: {wanted[k]!r})" for k in wanted if held[k] != wanted[k]]
    if diff:
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds {describe(state)}, not the model the config asks for: "
            f"{'; '.join(diff)}. Resume without model overrides, or start a new run")
    if state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {state.get('format')!r}; this "
                              f"version of fewshot reads {FORMAT!r}")


def resolve_checkpoint(target: Union[str, Path]) -> Tuple[Path, Path]:
    """A run folder or a checkpoint file -> (checkpoint path, run folder)."""
    target = Path(target)
    if target.is_dir():
        for name in ("best.pt", "last.pt"):
            if (target / "checkpoints" / name).is_file():
                return target / "checkpoints" / name, target
        raise CheckpointError(f"run folder {str(target)!r} has no checkpoints/best.pt or "
                              "checkpoints/last.pt; was training started there?")
    if target.is_file():
        run_dir = target.parent.parent if target.parent.name == "checkpoints" else target.parent
        return target, run_dir
    raise CheckpointError(f"{str(target)!r} is neither a run folder nor a checkpoint file")


def learner_from_state(state: Dict[str, Any], ckpt_path: Union[str, Path], device: str = "cpu",
                       untrained: bool = False):
    """Rebuild the learner a loaded checkpoint describes. Returns (learner, config, normalizer).

    The plug-in modules the run recorded are imported first, so its own backbone, learner or
    data set is found again."""
    check_state(state, ckpt_path)  # what rebuilding the learner reads, before it is read
    try:
        import_plugins(state.get("plugins") or [], source=f"checkpoint {str(ckpt_path)!r}")
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    cfg = config_from_dict(state["config"])
    if untrained:  # same architecture, fresh weights drawn with the run's seed
        torch.manual_seed(cfg.train.seed)
    learner = build_learner(cfg, state["in_channels"]).to(device)
    if not untrained:
        try:
            learner.load_state_dict(state["model"])
        except RuntimeError as err:
            raise CheckpointError(
                f"{str(ckpt_path)!r} holds weights for learner {state.get('learner')!r} with backbone "
                f"{state.get('backbone')!r}, which do not fit the model built from its config: "
                f"{str(err).splitlines()[0]}") from None
    norm = Normalizer(state["norm"]["mean"], state["norm"]["std"], device)
    return learner, cfg, norm


def load_learner(ckpt_path: Union[str, Path], device: str = "cpu", untrained: bool = False):
    """Rebuild the learner a checkpoint file describes. Returns (learner, config, normalizer)."""
    return learner_from_state(load_checkpoint(ckpt_path, map_location=device), ckpt_path, device, untrained)

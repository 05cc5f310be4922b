"""Load backbone weights from a fewshot run, a fewshot checkpoint or a plain ``state_dict`` file.

Files are read with ``torch.load(weights_only=True)``: loading never runs code from the file.
Keys are matched after removing wrapper prefixes (``module.`` from DataParallel / DDP,
``backbone.`` from a fewshot learner, ``encoder.`` from FEAT and others), so e.g. a fewshot
ProtoNet checkpoint, a DDP-wrapped state_dict and a bare torchvision model all load into the
matching backbone. What did not fit is reported (missing, unexpected, shape mismatches); strict
loading (the default) refuses anything but a complete, exact fit.

Keys that are not weights of the target are *skipped*, not unexpected: the classifier head a
torchvision / timm backbone removed (the backbone's ``dropped_keys``) and, in a fewshot
checkpoint, the learner's own parameters outside ``backbone.`` (a MAML head, a pre-training
head's base mean). Integer scalar buffers (BatchNorm's ``num_batches_tracked``, DropBlock's
step counter) are counters, not weights: when the file lacks them they keep their values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import torch
from torch import nn

PREFIXES = ("module.", "backbone.", "encoder.")
_WRAPPERS = ("state_dict", "model_state_dict", "model", "params")  # common checkpoint layouts


class WeightsError(ValueError):
    """Weights that cannot be read, or do not fit the model."""


@dataclass
class LoadReport:
    """What :func:`load_weights` did. ``str(report)`` is the report to print."""

    path: str
    kind: str  # "fewshot run", "fewshot checkpoint" or "state_dict"
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)  # key, file shape, model shape
    skipped: List[str] = field(default_factory=list)
    counters: List[str] = field(default_factory=list)  # missing counters, left as they were
    adapted: List[str] = field(default_factory=list)  # RGB filters summed for a grey input

    @property
    def complete(self) -> bool:
        """Every weight of the model loaded, nothing left over or of the wrong shape."""
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"missing in the file ({len(self.missing)}): {_names(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected, not in the model ({len(self.unexpected)}): {_names(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{k} (file {tuple(a)}, model {tuple(b)})" for k, a, b in self.mismatched]
            parts.append(f"shape mismatch ({len(shapes)}): {_names(shapes)}")
        return "; ".join(parts)

    def __str__(self) -> str:
        lines = [f"weights from {self.kind} {self.path}: {len(self.loaded)} tensors loaded"]
        if self.skipped:
            lines.append(f"  skipped, not part of the backbone ({len(self.skipped)}): {_names(self.skipped)}")
        if self.adapted:
            lines.append(f"  colour filters summed over the input channels for grey input: {_names(self.adapted)}")
        if self.counters:
            lines.append(f"  counters not in the file, left as they were ({len(self.counters)}): "
                         f"{_names(self.counters)}")
        problems = self.problems()
        if problems:
            lines += [f"  {p}" for p in problems.split("; ")]
        return "\n".join(lines)


def _names(keys: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


def _torch_load(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors, truncated files, foreign objects
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise WeightsError(f"refusing to load {str(path)!r}: it contains pickled Python objects, which "
                               f"could run arbitrary code; save a plain state_dict instead ({msg})") from None
        raise WeightsError(f"cannot read weights file {str(path)!r}: {msg}") from None


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def read_state_dict(path: Union[str, Path]) -> Tuple[Dict[str, torch.Tensor], str, Path]:
    """The tensors stored at ``path``: a run folder (its ``checkpoints/best.pt``, else
    ``last.pt``), a fewshot checkpoint (its ``model``) or a state_dict file, possibly wrapped
    in ``{"state_dict": ...}``, ``{"model": ...}`` or ``{"params": ...}``.

    Returns:
        (state_dict, kind, file read), kind one of "fewshot run", "fewshot checkpoint", "state_dict".
    """
    path, kind = Path(path), None
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / "checkpoints" / name).is_file():
                path, kind = path / "checkpoints" / name, "fewshot run"
                break
        else:
            raise WeightsError(f"{str(path)!r} is a folder but not a fewshot run: it has no "
                               "checkpoints/best.pt or checkpoints/last.pt")
    elif not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist")
    obj = _torch_load(path)
    if isinstance(obj, dict) and "model" in obj and "config" in obj:
        kind = kind or "fewshot checkpoint"
        obj = obj["model"]
    else:
        kind = kind or "state_dict"
        for key in _WRAPPERS:
            if isinstance(obj, dict) and not _is_state_dict(obj) and _is_state_dict(obj.get(key)):
                obj = obj[key]
                break
    if not _is_state_dict(obj):
        what = f"a dict with keys {_names(sorted(map(str, obj)))}" if isinstance(obj, dict) else type(obj).__name__
        raise WeightsError(f"{str(path)!r} holds {what}, not a state_dict (a dict of name -> tensor), a "
                           f"fewshot checkpoint, or a dict wrapping one under {', '.join(_WRAPPERS)}")
    return obj, kind, path


def _candidates(key: str, prefixes: Sequence[str]) -> List[str]:
    """``key`` and what remains after removing leading wrapper prefixes one at a time."""
    out = [key]
    while True:
        for p in prefixes:
            if out[-1].startswith(p):
                out.append(out[-1][len(p):])
                break
        else:
            return out


def _adapt_to_grey(value: torch.Tensor, shape: tuple) -> Union[torch.Tensor, None]:
    """A (O, 3, k, k) conv weight as (O, 1, k, k) by summing over its colour channels (a grey
    image x gives what the colour filter gives on (x, x, x)); None if that is not the case."""
    if value.ndim == 4 and value.shape[1] == 3 and len(shape) == 4 and shape[1] == 1 and \
            tuple(value.shape[:1] + value.shape[2:]) == tuple(shape[:1] + shape[2:]):
        return value.sum(dim=1, keepdim=True)
    return None


def load_weights(module: nn.Module, path: Union[str, Path], strict: bool = True,
                 prefixes: Sequence[str] = PREFIXES, adapt_grey: bool = False) -> LoadReport:
    """Load the weights at ``path`` into ``module`` (usually a backbone) and say what fitted.

    Args:
        module: the model to fill; its ``weights_prefix`` (external backbones: ``"net."``) is
            tried in front of a file key, its ``dropped_keys`` (prefixes of a removed head) are
            skipped.
        path: a fewshot run folder, a fewshot checkpoint, or a state_dict file.
        strict: refuse (WeightsError listing the keys) unless every weight of ``module`` is in
            the file with its shape and nothing else in the file is left over; with
            ``strict=False`` whatever fits is loaded and the report lists the rest.
        prefixes: wrapper prefixes removed from the file's keys, outermost first, repeatedly.
        adapt_grey: load a colour model's first-layer filters (O, 3, k, k) into a grey model's
            (O, 1, k, k) by summing them over the colour channels (listed in ``adapted``).

    Returns:
        the :class:`LoadReport` (print it: the caller decides where).
    """
    source, kind, file = read_state_dict(path)
    report = LoadReport(str(file), kind)
    target = module.state_dict()
    extra = getattr(module, "weights_prefix", "")
    dropped = tuple(getattr(module, "dropped_keys", ()))
    mapped: Dict[str, torch.Tensor] = {}
    origin: Dict[str, str] = {}
    for key, value in source.items():
        names = _candidates(key, prefixes)
        names += [extra + n for n in names] if extra else []
        hit = next((n for n in names if n in target), None)
        if hit is None:
            if any(n.startswith(d) for n in names for d in dropped) or (
                    kind != "state_dict" and not key.startswith("backbone.")):
                report.skipped.append(key)
            else:
                report.unexpected.append(key)
            continue
        if hit in mapped:
            raise WeightsError(f"{str(file)!r}: keys {origin[hit]!r} and {key!r} both map to the model's "
                               f"{hit!r} once the prefixes {tuple(prefixes)} are removed; load it yourself")
        if adapt_grey and tuple(value.shape) != tuple(target[hit].shape):
            grey = _adapt_to_grey(value, tuple(target[hit].shape))
            if grey is not None:
                value = grey
                report.adapted.append(hit)
        if tuple(value.shape) != tuple(target[hit].shape):
            report.mismatched.append((hit, tuple(value.shape), tuple(target[hit].shape)))
            continue
        mapped[hit], origin[hit] = value, key
    for name, tensor in target.items():
        if name not in mapped and not any(name == m for m, _, _ in report.mismatched):
            is_counter = tensor.ndim == 0 and not tensor.is_floating_point()
            (report.counters if is_counter else report.missing).append(name)
    report.loaded = sorted(mapped)
    if strict and not report.complete:
        raise WeightsError(f"weights from {kind} {str(file)!r} do not fit {type(module).__name__} "
                           f"({len(mapped)} of {len(target) - len(report.counters)} tensors matched): "
                           f"{report.problems()}. Pass strict=False (model.init_strict: false) to load what fits")
    if not mapped:
        raise WeightsError(f"no tensor of {kind} {str(file)!r} fits {type(module).__name__}: "
                           f"{report.problems()}")
    module.load_state_dict(mapped, strict=False)
    return report

"""Registry of transductive (and baseline) inference methods over cached features.

Every method has one batched signature::

    method(zs, ys, zq, n_way, **options) -> probabilities (E, Q, n_way)

with ``zs`` (E, S, D) support features, ``ys`` (E, S) episode-local labels and ``zq`` (E, Q, D)
query features of ``E`` episodes that share S, Q and D. Rows of the result sum to one and the
prediction is their argmax. Register your own with ``@register_method("name")``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Dict, List

import torch

from ._checks import check_episodes


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its function and what the evaluation needs to know about it."""

    name: str
    fn: Callable[..., torch.Tensor]
    transductive: bool = True  # predictions for one query depend on the other queries
    has_lambda: bool = False  # takes a Laplacian weight ``lam`` (tunable on the validation split)

    @property
    def options(self) -> List[str]:
        """Names of the keyword options the method accepts."""
        params = list(inspect.signature(self.fn).parameters.values())[4:]
        return [p.name for p in params if p.kind is p.KEYWORD_ONLY or p.default is not p.empty]

    @property
    def defaults(self) -> Dict[str, object]:
        """Default value of every option."""
        params = inspect.signature(self.fn).parameters
        return {name: params[name].default for name in self.options}

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.fn) or ""
        return doc.splitlines()[0] if doc else ""


METHODS: Dict[str, MethodInfo] = {}


def register_method(name: str, *, transductive: bool = True, has_lambda: bool = False):
    """Decorator adding a method with the common batched signature to :data:`METHODS`."""
    def wrap(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        if name in METHODS:
            raise ValueError(f"transductive method {name!r} is already registered")
        METHODS[name] = MethodInfo(name, fn, transductive, has_lambda)
        return fn
    return wrap


def available_methods() -> List[str]:
    return sorted(METHODS)


def get_method(name: str) -> MethodInfo:
    if name not in METHODS:
        raise ValueError(f"unknown transductive method {name!r}; available: {', '.join(available_methods())}")
    return METHODS[name]


def run_method(name: str, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int,
               **options) -> torch.Tensor:
    """Validate the episodes and the options, then run method ``name``. Returns (E, Q, n_way)."""
    info = get_method(name)
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        raise ValueError(f"method {name!r} has no option(s) {', '.join(unknown)}; "
                         f"its options: {', '.join(info.options) or '(none)'}")
    check_episodes(zs, ys, zq, n_way)
    return info.fn(zs, ys.long(), zq, n_way, **options)

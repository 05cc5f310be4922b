"""Registry of transductive (and baseline) inference methods over cached features.

Every method has one batched signature::

    method(zs, ys, zq, n_way, **options) -> probabilities (E, Q, n_way)

with ``zs`` (E, S, D) support features, ``ys`` (E, S) episode-local labels and ``zq`` (E, Q, D)
query features of ``E`` episodes that share S, Q and D. Rows of the result sum to one and the
prediction is their argmax. Register your own with ``@register_method("name")``.

:data:`METHODS` is a :class:`fewshot.registry.Registry` of kind "transductive method"; each
entry is a :class:`MethodInfo` (callable like the function it wraps) and the same metadata is
available as ``METHODS.info(name)``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Dict, List

import torch

from ..registry import Registry
from ._checks import check_episodes
from .preprocess import NORMS as _NORMS  # what a method may ask for by default


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its function and what the evaluation needs to know about it.

    Attributes:
        name: registry name.
        fn: the batched function.
        transductive: predictions for one query depend on the other queries.
        has_lambda: takes a Laplacian weight ``lam`` (tunable on the validation split).
        norm: the feature normalisation ``fewshot eval --transductive`` applies when ``--norm``
            is not given: the one the method's reference code uses.
    """

    name: str
    fn: Callable[..., torch.Tensor]
    transductive: bool = True
    has_lambda: bool = False
    norm: str = "cl2n"

    def __post_init__(self) -> None:
        # plug-in recording (fewshot.registry.plugin_modules) asks an entry for its module:
        # answer with the module that defines the function, not this wrapper's
        object.__setattr__(self, "__module__", getattr(self.fn, "__module__", __name__))

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return self.fn(*args, **kwargs)

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


METHODS = Registry("transductive method")


def register_method(name: str, *, transductive: bool = True, has_lambda: bool = False, norm: str = "cl2n"):
    """Decorator adding a method with the common batched signature to :data:`METHODS`.

    Args:
        name: registry name.
        transductive: False for an inductive baseline.
        has_lambda: the method takes a Laplacian weight ``lam``.
        norm: default feature normalisation for ``fewshot eval`` ("none", "l2", "cl2n", "center",
            "episode-cl2n").
    """
    if norm not in _NORMS:
        raise ValueError(f"norm of transductive method {name!r} must be one of {', '.join(_NORMS)}, got {norm!r}")

    def wrap(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        if name in METHODS and METHODS[name].fn is not fn:
            raise ValueError(f"transductive method {name!r} is already registered")
        METHODS.add(name, MethodInfo(name, fn, transductive, has_lambda, norm), replace=True,
                    transductive=transductive, has_lambda=has_lambda, norm=norm)
        return fn
    return wrap


def available_methods() -> List[str]:
    return METHODS.names()


def get_method(name: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``name``; an unknown name is a ValueError listing the names."""
    return METHODS.get(name)


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

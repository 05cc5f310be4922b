"""Interpolation weights: lambda ~ Beta(a, b), one per task (or per class)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np

from .._checks import check_float

Size = Union[int, Tuple[int, ...], None]


@dataclass(frozen=True)
class BetaLambda:
    """lambda ~ Beta(a, b).

    MLTI uses Beta(2, 2) (Beta(0.5, 0.5) on some data sets); interval-bound interpolation
    draws one lambda per class from Beta(a, b).

    Args:
        a: first shape parameter (> 0).
        b: second shape parameter (> 0); defaults to ``a`` (symmetric, as in mixup).
    """

    a: float = 2.0
    b: Optional[float] = None

    def __post_init__(self) -> None:
        for name, v in (("a", self.a), ("b", self.b if self.b is not None else self.a)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"Beta parameter {name} must be a number > 0, got {v!r}")

    def __call__(self, rng: np.random.Generator, size: Size = None):
        """A float (``size=None``) or an array of the given shape, values in (0, 1)."""
        return rng.beta(self.a, self.a if self.b is None else self.b, size=size)


@dataclass(frozen=True)
class ConstantLambda:
    """Always the same lambda (ablations, tests: lambda = 1 returns the anchor task)."""

    value: float = 0.5

    def __post_init__(self) -> None:
        check_float("lambda", self.value, 0.0, 1.0)

    def __call__(self, rng: np.random.Generator, size: Size = None):
        if size is None:
            return float(self.value)
        return np.full(size, float(self.value))

"""Random batches of episodes for the transductive tests."""

import pytest
import torch


def _batch(episodes=3, n_way=3, k_shot=2, n_query=4, dim=5, dtype=torch.float64, seed=0, spread=1.5):
    """Class-clustered features: each class a Gaussian blob around a random centre.

    Returns zs (E, n_way * k_shot, D), ys (E, n_way * k_shot), zq (E, n_way * n_query, D),
    yq (n_way * n_query,), all class-major.
    """
    g = torch.Generator().manual_seed(seed)
    centres = spread * torch.randn(episodes, n_way, dim, generator=g, dtype=dtype)
    zs = centres.repeat_interleave(k_shot, 1) + torch.randn(episodes, n_way * k_shot, dim, generator=g, dtype=dtype)
    zq = centres.repeat_interleave(n_query, 1) + torch.randn(episodes, n_way * n_query, dim, generator=g,
                                                             dtype=dtype)
    ys = torch.arange(n_way).repeat_interleave(k_shot).expand(episodes, -1).contiguous()
    yq = torch.arange(n_way).repeat_interleave(n_query)
    return zs, ys, zq, yq


@pytest.fixture
def make_batch():
    """make_batch(episodes, n_way, k_shot, n_query, dim, dtype, seed, spread) -> zs, ys, zq, yq."""
    return _batch


# Small option sets so every method runs in milliseconds (TIM's 1000 steps are for real runs).
FAST_OPTIONS = {"tim": {"steps": 15, "lr": 1e-2}}


@pytest.fixture
def fast_options():
    return lambda name: dict(FAST_OPTIONS.get(name, {}))


# Methods whose input must be non-negative (PT-MAP's power transform, post-ReLU features).
NON_NEGATIVE = {"pt-map"}


def _for_method(name, zs, zq):
    """Features a method accepts: shifted to be non-negative for NON_NEGATIVE methods (one
    offset for the whole batch, so slices of the result are episodes of the same batch)."""
    if name not in NON_NEGATIVE:
        return zs, zq
    low = torch.minimum(zs.min(), zq.min())
    return zs - low, zq - low


@pytest.fixture
def for_method():
    """for_method(name, zs, zq) -> (zs, zq) the method accepts."""
    return _for_method

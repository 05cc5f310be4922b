"""Contract tests over every registry: names listed in errors, and what each kind must do."""

import pytest
import torch

import fewshot.data  # noqa: F401  (registers the data sets)
import fewshot.interpolation  # noqa: F401
import fewshot.losses  # noqa: F401
import fewshot.transductive  # noqa: F401
from fewshot.config import DESCRIBERS
from fewshot.distances import DISTANCES, get_distance
from fewshot.learners import LEARNERS
from fewshot.registry import ALL, Registry

KINDS = ["learner", "distance", "data set", "loss term", "interpolation kind", "episode kind"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_one_registry_listing_its_names_in_errors(kind):
    registry = ALL[kind]
    assert isinstance(registry, Registry) and len(registry) > 0
    with pytest.raises(ValueError) as err:
        registry.create("no-such-name")
    message = str(err.value)
    assert f"unknown {kind} 'no-such-name'" in message
    assert all(name in message for name in registry.names())


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_distance_contract(name):
    """(n, m) matrix, >= 0, ~0 between a point and itself, larger for farther points, gradients flow."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 7, generator=g, dtype=torch.float64)
    fn = get_distance(name)
    d = fn(x, y)
    assert d.shape == (5, 3) and bool((d >= -1e-12).all())
    self_d = torch.diagonal(fn(x, x))
    assert bool((self_d < 1e-2).all())
    far = fn(y[:1], torch.cat([y[:1] + 0.1, -3 * y[:1]]))  # a near point and an opposite, far one
    assert far[0, 0] < far[0, 1]
    d.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


def test_learners_declare_what_they_are_built_with():
    for name in LEARNERS:
        info = LEARNERS.info(name)
        assert set(info) <= {"needs", "model_keys", "training"}, (name, info)
        assert set(info.get("needs", ())) <= {"feature_dim", "n_way"}
        assert info.get("training", "episodic") in ("episodic", "batches")


def test_describers_build_what_their_options_say():
    from fewshot.config import EvalConfig, TrainConfig

    for kind in DESCRIBERS:
        section = TrainConfig(episode_kind=kind, n_way=5, k_shot=2, n_query=3)
        describer = DESCRIBERS.create(kind, section, 2)
        assert describer is not None
    assert DESCRIBERS.create("fixed", EvalConfig(n_way=4, n_query=2), 3).fixed_shape == (4, 3, 2)

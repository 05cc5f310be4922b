"""Exact resume under a DataLoader with worker processes, which asks for episodes ahead of use:
``state_dict(consumed=n)``, and torchdata's StatefulDataLoader."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from episodes import EpisodeSampler

N_EPISODES = 12


def sample_ids(batch):
    """collate_fn: the sample indices of an episode (module level: workers may pickle it)."""
    return [int(x) for x, _ in batch]


@pytest.fixture
def data(labels):
    return TensorDataset(torch.arange(len(labels)), torch.as_tensor(labels))


def make_sampler(labels, **kwargs):
    return EpisodeSampler(labels, n_way=3, k_shot=1, n_query=1, n_episodes=N_EPISODES, seed=4, **kwargs)


def make_loader(data, sampler, loader_class=DataLoader):
    return loader_class(data, batch_sampler=sampler, collate_fn=sample_ids, num_workers=2)


def take(loader, n):
    """The next n episodes of a loader, over as many passes (epochs) as needed."""
    out = []
    while len(out) < n:
        out += [episode for _, episode in zip(range(n - len(out)), loader)]
    return out


@pytest.fixture
def uninterrupted(labels):
    sampler = make_sampler(labels)
    return [indices for _ in range(3) for indices in sampler]  # 3 epochs, drawn directly


@pytest.mark.parametrize("stop", [5, N_EPISODES - 1])
def test_consumed_state_resumes_exactly_with_two_workers(labels, data, uninterrupted, stop):
    sampler = make_sampler(labels)
    head = []
    for step, episode in enumerate(make_loader(data, sampler)):
        head.append(episode)
        if step + 1 == stop:
            state, prefetched = sampler.state_dict(consumed=step + 1), sampler.state_dict()
            break
    # The loader had asked for more episodes than the loop took (or finished the epoch): the
    # plain state is ahead, the consumed one is exactly where the loop stopped.
    assert (prefetched["epoch"], prefetched["position"]) > (0, stop)
    assert (state["epoch"], state["position"]) == (0, stop)
    resumed = make_sampler(labels)
    resumed.load_state_dict(state)
    tail = take(make_loader(data, resumed), 2 * N_EPISODES)
    assert head + tail == uninterrupted[:stop + 2 * N_EPISODES]


def test_consumed_state_at_the_end_of_a_pass_starts_the_next_epoch(labels, data, uninterrupted):
    sampler = make_sampler(labels)
    loader = make_loader(data, sampler)
    first = list(loader)
    assert sampler.state_dict(consumed=N_EPISODES) == sampler.state_dict()
    assert sampler.state_dict()["epoch"] == 1 and sampler.state_dict()["position"] == 0
    # a second pass, interrupted after 3: counted from that pass's start
    second = take(loader, 3)
    state = sampler.state_dict(consumed=3)
    assert (state["epoch"], state["position"]) == (1, 3)
    resumed = make_sampler(labels)
    resumed.load_state_dict(state)
    assert first + second + list(resumed) == uninterrupted[:2 * N_EPISODES]


def test_consumed_counts_from_a_resumed_position(labels, uninterrupted):
    sampler = make_sampler(labels)
    sampler.load_state_dict({**sampler.state_dict(), "position": 4})
    iterator = iter(sampler)
    got = [next(iterator) for _ in range(3)]
    assert got == uninterrupted[4:7]
    assert sampler.state_dict(consumed=2)["position"] == 6
    assert sampler.state_dict(consumed=0)["position"] == 4


def test_consumed_more_than_yielded_is_a_clear_error(labels):
    sampler = make_sampler(labels)
    iterator = iter(sampler)
    next(iterator), next(iterator)
    with pytest.raises(ValueError, match=r"consumed=3\), but the current pass has yielded only 2"):
        sampler.state_dict(consumed=3)
    with pytest.raises(ValueError, match="consumed must be >= 0"):
        sampler.state_dict(consumed=-1)


def test_consumed_without_advancing_epochs(labels):
    sampler = make_sampler(labels, advance_epoch=False)
    list(sampler)
    state = sampler.state_dict(consumed=N_EPISODES)
    assert (state["epoch"], state["position"]) == (0, 0)


def test_stateful_dataloader_resumes_exactly_with_two_workers(labels, data, uninterrupted):
    stateful = pytest.importorskip("torchdata.stateful_dataloader")
    sampler = make_sampler(labels)
    loader = make_loader(data, sampler, stateful.StatefulDataLoader)
    head = take(loader, 5)
    state = loader.state_dict()
    assert sampler.state_dict()["position"] > 5  # prefetched: the loader's state is what counts
    resumed = make_sampler(labels)
    resumed_loader = make_loader(data, resumed, stateful.StatefulDataLoader)
    resumed_loader.load_state_dict(state)
    rest = list(resumed_loader)  # the rest of epoch 0, then a full epoch 1
    assert head + rest + list(resumed_loader) == uninterrupted[:2 * N_EPISODES]
    np.testing.assert_equal(resumed.epoch, 2)

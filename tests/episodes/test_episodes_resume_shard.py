"""Resuming from a state dict, sharding, DataLoader workers and pickling."""

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from episodes import EpisodeCollate, EpisodeSampler, SpecSampler, VariableWaysShots


def take(sampler, n):
    """The next n episodes of a sampler, passing epoch boundaries like a training loop."""
    out = []
    while len(out) < n:
        for indices in sampler:
            out.append(indices)
            if len(out) == n:
                break
    return out


@pytest.mark.parametrize("stop", [0, 1, 7, 19, 20, 33])
def test_resume_mid_epoch_equals_uninterrupted(labels, stop):
    full = take(EpisodeSampler(labels, n_episodes=20, seed=2), 50)
    first = EpisodeSampler(labels, n_episodes=20, seed=2)
    head = take(first, stop)
    state = first.state_dict()
    # A fresh sampler built from another generator: the state carries the seed.
    resumed = EpisodeSampler(labels, n_episodes=20, generator=torch.Generator().manual_seed(5))
    resumed.load_state_dict(state)
    resumed.set_epoch(state["epoch"])  # what a loop does at an epoch start: keeps the position
    assert head + take(resumed, 50 - stop) == full


def test_state_dict_keys_and_round_trip(labels):
    sampler = EpisodeSampler(labels, n_episodes=20, seed=9)
    take(sampler, 27)
    state = sampler.state_dict()
    assert state == {"seed": 9, "epoch": 1, "position": 7, "n_episodes": 20, "world_size": 1,
                     "n_classes": 20, "n_samples": 600}
    other = EpisodeSampler(labels, n_episodes=20, seed=0)
    other.load_state_dict(state)
    assert other.state_dict() == state


def test_state_from_another_set_up_is_refused(labels):
    state = EpisodeSampler(labels, n_episodes=20).state_dict()
    with pytest.raises(ValueError, match="n_episodes=20 but this sampler has 30"):
        EpisodeSampler(labels, n_episodes=30).load_state_dict(state)
    with pytest.raises(ValueError, match="n_samples"):
        EpisodeSampler(np.concatenate([labels, [0]]), n_episodes=20).load_state_dict(state)
    with pytest.raises(ValueError, match="lacks"):
        EpisodeSampler(labels, n_episodes=20).load_state_dict({"seed": 1})
    with pytest.raises(ValueError, match="position 21 exceeds"):
        EpisodeSampler(labels, n_episodes=20).load_state_dict({**state, "position": 21})


@pytest.mark.parametrize("world_size", [1, 2, 3, 7])
def test_shards_are_disjoint_and_together_the_full_sequence(labels, world_size):
    full = EpisodeSampler(labels, n_episodes=20, seed=1)
    expected = list(full)
    full.set_epoch(0)
    shards = [full.shard(rank, world_size) for rank in range(world_size)]
    per_rank = [list(s) for s in shards]
    assert sum(len(s) for s in shards) == 20
    assert [len(p) for p in per_rank] == [len(s) for s in shards]
    merged = [None] * 20
    for rank, episodes in enumerate(per_rank):
        merged[rank::world_size] = episodes
    assert merged == expected
    # the rank= argument gives the same shard as shard()
    assert list(EpisodeSampler(labels, n_episodes=20, seed=1, rank=world_size - 1,
                               world_size=world_size)) == per_rank[-1]
    # next epoch: still a partition of the next unsharded epoch
    assert [s.epoch for s in shards] == [1] * world_size
    full.set_epoch(1)
    expected_next = list(full)
    merged_next = [None] * 20
    for rank, shard in enumerate(shards):
        merged_next[rank::world_size] = list(shard)
    assert merged_next == expected_next


def test_sharded_sampler_resumes(labels):
    shard = EpisodeSampler(labels, n_episodes=20, seed=1, rank=1, world_size=3)
    full = take(EpisodeSampler(labels, n_episodes=20, seed=1, rank=1, world_size=3), 10)
    head = take(shard, 4)
    again = EpisodeSampler(labels, n_episodes=20, seed=0, rank=1, world_size=3)
    again.load_state_dict(shard.state_dict())
    assert head + take(again, 6) == full


def test_pickled_sampler_and_collate_behave_the_same(labels):
    sampler = EpisodeSampler(labels, n_episodes=12, seed=3)
    take(sampler, 5)
    clone = pickle.loads(pickle.dumps(sampler))
    assert list(clone) == list(sampler)
    collate = pickle.loads(pickle.dumps(EpisodeCollate(5, 1, 15)))
    assert (collate.n_way, collate.k_shot, collate.n_query) == (5, 1, 15)
    variable = SpecSampler(labels, VariableWaysShots(), n_episodes=4, seed=1)
    assert list(pickle.loads(pickle.dumps(variable))) == list(variable)


def _loader_batches(dataset, sampler, workers, context=None):
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                        collate_fn=EpisodeCollate.from_sampler(sampler),
                        multiprocessing_context=context)
    return [tuple(t.clone() for t in batch) for batch in loader]


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            torch.testing.assert_close(u, v, rtol=0, atol=0)


def test_dataloader_workers_give_the_same_episodes(labels, images):
    dataset = TensorDataset(images, torch.as_tensor(labels))
    serial = _loader_batches(dataset, EpisodeSampler(labels, n_episodes=8, seed=4), 0)
    parallel = _loader_batches(dataset, EpisodeSampler(labels, n_episodes=8, seed=4), 2)
    _assert_same_batches(serial, parallel)


@pytest.mark.slow
def test_dataloader_spawned_workers_give_the_same_episodes(labels, images):
    dataset = TensorDataset(images, torch.as_tensor(labels))
    serial = _loader_batches(dataset, EpisodeSampler(labels, n_episodes=8, seed=4), 0)
    spawned = _loader_batches(dataset, EpisodeSampler(labels, n_episodes=8, seed=4), 2, "spawn")
    _assert_same_batches(serial, spawned)

"""EpisodeSampler: layout, counts, coverage, seeding, epochs, bad input."""

import numpy as np
import pytest
import torch
from scipy import stats

from episodes import EpisodeSampler


def test_layout_and_exact_counts(labels, episode_classes):
    sampler = EpisodeSampler(labels, n_way=5, k_shot=3, n_query=4, n_episodes=200, seed=0)
    episodes = list(sampler)
    assert len(episodes) == len(sampler) == 200
    for indices in episodes:
        assert len(indices) == 5 * (3 + 4)
        assert len(set(indices)) == len(indices)  # support and query disjoint, no repeats
        support, query = episode_classes(labels, indices, 5, 3, 4)
        # class-major blocks: one class per row, the same class order in support and query
        assert (support == support[:, :1]).all() and (query == query[:, :1]).all()
        np.testing.assert_array_equal(support[:, 0], query[:, 0])
        assert len(set(support[:, 0])) == 5


def test_yields_plain_python_ints(labels):
    indices = next(iter(EpisodeSampler(labels, n_episodes=1)))
    assert all(type(i) is int for i in indices)


def test_class_coverage_is_uniform(labels):
    sampler = EpisodeSampler(labels, n_way=5, k_shot=1, n_query=1, n_episodes=2000, seed=3)
    counts = np.zeros(20)
    for indices in sampler:
        counts[labels[indices[:5]]] += 1
    assert counts.sum() == 2000 * 5
    # Each class is in an episode with probability 5/20: counts ~ Binomial(2000, 1/4).
    assert stats.chisquare(counts).pvalue > 1e-3


def test_sample_coverage_and_support_share_are_uniform():
    # 5 classes x 10 samples, all classes each episode: every sample is drawn with prob 6/10,
    # and given drawn, lands in the support with prob 2/6.
    labels = np.repeat(np.arange(5), 10)
    sampler = EpisodeSampler(labels, n_way=5, k_shot=2, n_query=4, n_episodes=1500, seed=5)
    drawn, in_support = np.zeros(50), np.zeros(50)
    for indices in sampler:
        drawn[indices] += 1
        in_support[indices[:10]] += 1
    assert stats.chisquare(drawn).pvalue > 1e-3
    assert stats.chisquare(in_support).pvalue > 1e-3
    share = in_support.sum() / drawn.sum()
    assert share == pytest.approx(2 / 6)


def test_same_seed_same_episodes_different_seed_differs(labels):
    a = list(EpisodeSampler(labels, n_episodes=20, seed=11))
    b = list(EpisodeSampler(labels, n_episodes=20, seed=11))
    c = list(EpisodeSampler(labels, n_episodes=20, seed=12))
    assert a == b
    assert a != c


def test_generator_seeds_the_episodes(labels):
    a = list(EpisodeSampler(labels, n_episodes=10, generator=torch.Generator().manual_seed(7)))
    torch.manual_seed(999)  # the global state must not matter
    np.random.seed(999)
    b = list(EpisodeSampler(labels, n_episodes=10, generator=torch.Generator().manual_seed(7)))
    c = list(EpisodeSampler(labels, n_episodes=10, generator=torch.Generator().manual_seed(8)))
    assert a == b and a != c


def test_global_random_state_is_neither_read_nor_changed(labels):
    sampler = EpisodeSampler(labels, n_episodes=10, seed=0)
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    episodes = list(sampler)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.random.seed(1)
    torch.manual_seed(1)
    sampler.set_epoch(0)
    assert list(sampler) == episodes


def test_epochs_advance_and_repeat_on_request(labels):
    sampler = EpisodeSampler(labels, n_episodes=5, seed=0)
    first, second = list(sampler), list(sampler)
    assert sampler.epoch == 2 and first != second
    sampler.set_epoch(0)
    assert list(sampler) == first
    fixed = EpisodeSampler(labels, n_episodes=5, seed=0, advance_epoch=False)
    assert list(fixed) == list(fixed) == first


def test_episode_indices_is_pure_and_matches_iteration(labels):
    sampler = EpisodeSampler(labels, n_episodes=6, seed=4)
    singles = [sampler.episode_indices(i) for i in range(6)]
    assert sampler.position == 0 and sampler.epoch == 0
    assert list(sampler) == singles
    assert sampler.episode(2, epoch=0).indices.tolist() == singles[2]
    with pytest.raises(IndexError):
        sampler.episode(6)


def test_small_class_error_names_the_class():
    labels = ["cat"] * 30 + ["dog"] * 30 + ["rare"] * 7 + ["owl"] * 30 + ["yak"] * 30 \
        + ["emu"] * 30
    with pytest.raises(ValueError, match=r"class 'rare' has 7 samples.*k_shot \+ n_query = "
                                         r"1 \+ 15 = 16.*drop_small_classes"):
        EpisodeSampler(labels, n_way=5, k_shot=1, n_query=15)


def test_drop_small_classes_drops_and_warns(labels):
    labels = np.concatenate([labels, [100] * 3, [101] * 15])
    with pytest.warns(UserWarning, match=r"dropped 2 of 22 classes with fewer than 16"):
        sampler = EpisodeSampler(labels, n_way=5, k_shot=1, n_query=15, n_episodes=300,
                                 drop_small_classes=True)
    assert sorted(sampler.classes.tolist()) == list(range(20))
    used = set()
    for indices in sampler:
        used.update(labels[indices].tolist())
    assert used == set(range(20))


def test_more_ways_than_classes_is_an_error(labels):
    with pytest.raises(ValueError, match=r"n_way=21 is more than the 20 classes"):
        EpisodeSampler(labels, n_way=21)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"n_way=5.*0 classes"):
        EpisodeSampler(labels, n_way=5, k_shot=20, n_query=15, drop_small_classes=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(k_shot=0), "k_shot must be >= 1"),
    (dict(n_query=True), "n_query must be an integer"),
    (dict(n_way=2.5), "n_way must be an integer"),
    (dict(n_episodes=0), "n_episodes must be >= 1"),
    (dict(seed=-1), "seed must be >= 0"),
    (dict(seed=1, generator=torch.Generator()), "either seed or generator"),
    (dict(rank=2, world_size=2), "rank < world_size"),
])
def test_bad_arguments_are_clear_errors(labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EpisodeSampler(labels, **kwargs)

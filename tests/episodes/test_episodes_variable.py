"""Meta-Dataset variable-way variable-shot episodes and class-imbalanced episodes."""

import math

import numpy as np
import pytest
from scipy import stats

from episodes import ClassIndex, ImbalancedShots, SpecSampler, VariableWaysShots


def naive_meta_dataset(rng, sizes_all, candidates, d):
    """Meta-Dataset's episode composition, one scalar at a time (same random draws)."""
    n_way = int(rng.integers(d.min_ways, min(d.max_ways_upper_bound, len(candidates)) + 1))
    classes = rng.choice(candidates, size=n_way, replace=False)
    sizes = [int(sizes_all[c]) for c in classes]
    q = min(d.max_num_query, min(s // 2 for s in sizes))
    beta = rng.uniform()
    budget = min(d.max_support_set_size,
                 sum(math.floor(beta * min(d.max_support_size_contrib_per_class, s - q) + 1)
                     for s in sizes))
    u = rng.uniform(d.min_log_weight, d.max_log_weight, n_way)
    weights = [s * math.exp(float(x)) for s, x in zip(sizes, u)]
    shots = [min(s - q, math.floor(w / sum(weights) * (budget - n_way)) + 1)
             for s, w in zip(sizes, weights)]
    return classes.tolist(), shots, [q] * n_way


def mixed_size_labels(seed=0, n_classes=40):
    rng = np.random.default_rng(seed)
    sizes = np.concatenate([[1, 2, 3], rng.integers(4, 300, n_classes - 3)])
    return rng.permutation(np.repeat(np.arange(n_classes), sizes)), sizes


@pytest.mark.parametrize("describer", [
    VariableWaysShots(),
    VariableWaysShots(min_ways=2, max_ways_upper_bound=8, max_num_query=3,
                      max_support_set_size=20, max_support_size_contrib_per_class=5,
                      min_log_weight=-1.0, max_log_weight=1.5),
])
def test_matches_naive_loop_of_the_paper_rule(describer):
    labels, _ = mixed_size_labels()
    index = ClassIndex.build(labels).subset(np.bincount(labels) >= 2)
    candidates = np.arange(index.n_classes)
    for seed in range(300):
        spec = describer(np.random.default_rng(seed), index, candidates)
        classes, shots, queries = naive_meta_dataset(np.random.default_rng(seed), index.sizes,
                                                     candidates, describer)
        assert spec.classes.tolist() == classes
        assert spec.n_support.tolist() == shots
        assert spec.n_query.tolist() == queries


def test_every_constraint_holds_over_many_episodes():
    labels, sizes = mixed_size_labels(1)
    with pytest.warns(UserWarning, match="dropped 1 of 40 classes with fewer than 2"):
        sampler = SpecSampler(labels, VariableWaysShots(), n_episodes=300, seed=0,
                              drop_small_classes=True)
    totals = []
    for episode in sampler.iter_episodes():
        spec, indices = episode.spec, episode.indices
        class_sizes = sizes[sampler.classes[spec.classes]]
        assert 5 <= spec.n_way <= 39 and len(set(spec.classes.tolist())) == spec.n_way
        q = spec.n_query[0]
        assert (spec.n_query == q).all() and q == min(10, (class_sizes // 2).min())
        assert (spec.n_support >= 1).all() and (spec.n_support <= class_sizes - q).all()
        assert spec.n_way <= spec.support_size <= 500
        assert len(set(indices.tolist())) == len(indices)  # disjoint, no repeats
        assert (labels[indices] != 0).all()  # the 1-sample class is never drawn
        # layout: class-major support then class-major query
        expected = sampler.classes[spec.classes][np.r_[spec.support_labels(),
                                                       spec.query_labels()]]
        np.testing.assert_array_equal(labels[indices], expected)
        totals.append(spec.support_size)
    assert len(set(totals)) > 50  # the support size really varies


def test_ways_are_uniform_up_to_the_number_of_classes():
    index = ClassIndex.build(np.repeat(np.arange(30), 40))
    describer, candidates = VariableWaysShots(), np.arange(30)
    ways = np.array([describer(np.random.default_rng([1, i]), index, candidates).n_way
                     for i in range(2600)])
    assert ways.min() == 5 and ways.max() == 30
    counts = np.bincount(ways, minlength=31)[5:]
    assert stats.chisquare(counts).pvalue > 1e-3


def test_support_budget_is_reached_and_never_exceeded():
    labels = np.repeat(np.arange(60), 1000)
    capped = SpecSampler(labels, VariableWaysShots(), n_episodes=150, seed=2)
    totals = [capped.episode(i).spec.support_size for i in range(150)]
    # the budget is 500 when it binds; flooring the per-class shares may leave up to n_way less
    assert 450 < max(totals) <= 500
    uncapped = SpecSampler(labels, VariableWaysShots(max_support_set_size=5000), n_episodes=50,
                           seed=2)
    assert max(uncapped.episode(i).spec.support_size for i in range(50)) > 1000


def test_shot_imbalance_has_the_log_uniform_spread():
    # Equal class sizes: weights differ only by exp(u), u in [log 1/2, log 2], a ratio <= 4.
    labels = np.repeat(np.arange(10), 1000)
    sampler = SpecSampler(labels, VariableWaysShots(), n_episodes=300, seed=3)
    ratios = []
    for i in range(300):
        shots = sampler.episode(i).spec.n_support
        assert shots.max() - 1 < 4 * shots.min()
        ratios.append(shots.max() / shots.min())
    assert np.mean(np.array(ratios) > 1.5) > 0.5  # imbalance is not degenerate


def test_variable_episodes_reproduce_per_seed():
    labels, _ = mixed_size_labels(2)
    kwargs = dict(n_episodes=5, drop_small_classes=True)
    with pytest.warns(UserWarning):
        a = list(SpecSampler(labels, VariableWaysShots(), seed=4, **kwargs))
        b = list(SpecSampler(labels, VariableWaysShots(), seed=4, **kwargs))
        c = list(SpecSampler(labels, VariableWaysShots(), seed=5, **kwargs))
    assert a == b and a != c


def test_variable_bad_configuration():
    with pytest.raises(ValueError, match="max_ways_upper_bound must be >= 5"):
        VariableWaysShots(max_ways_upper_bound=4)
    with pytest.raises(ValueError, match="max_support_set_size must be >= 1"):
        VariableWaysShots(max_support_set_size=0)
    with pytest.raises(ValueError, match="min_log_weight <= max_log_weight"):
        VariableWaysShots(min_log_weight=1.0, max_log_weight=0.0)
    with pytest.raises(ValueError, match="needs at least 5 classes but only 4"):
        SpecSampler(np.repeat(np.arange(4), 10), VariableWaysShots())


def test_imbalanced_random_profile_is_uniform_over_shots():
    labels = np.repeat(np.arange(12), 30)
    describer = ImbalancedShots(n_way=5, n_query=5, min_shot=1, max_shot=9)
    sampler = SpecSampler(labels, describer, n_episodes=900, seed=0)
    shots = np.concatenate([e.spec.n_support for e in sampler.iter_episodes()])
    assert shots.min() == 1 and shots.max() == 9
    assert stats.chisquare(np.bincount(shots)[1:]).pvalue > 1e-3


@pytest.mark.parametrize("profile, expected", [("linear", [1, 3, 5, 7, 9]),
                                               ("step", [1, 1, 9, 9, 9])])
def test_imbalanced_profiles_and_shuffled_positions(profile, expected):
    labels = np.repeat(np.arange(12), 30)
    describer = ImbalancedShots(n_way=5, n_query=5, min_shot=1, max_shot=9, profile=profile,
                                step_fraction=0.4)
    sampler = SpecSampler(labels, describer, n_episodes=1000, seed=1)
    where_smallest = np.zeros(5)
    for episode in sampler.iter_episodes():
        shots = episode.spec.n_support
        assert sorted(shots.tolist()) == expected
        assert (episode.spec.n_query == 5).all()
        counts = np.bincount(labels[episode.support_indices], minlength=12)
        np.testing.assert_array_equal(counts[sampler.classes[episode.spec.classes]], shots)
        where_smallest[shots == shots.min()] += 1
    # the shot count is not tied to the episode-local label
    assert stats.chisquare(where_smallest).pvalue > 1e-3


def test_imbalanced_never_uses_classes_too_small_for_max_shot():
    labels = np.concatenate([np.repeat(np.arange(10), 30), [10] * 12])
    describer = ImbalancedShots(n_way=5, n_query=5, min_shot=1, max_shot=9)
    with pytest.raises(ValueError, match=r"class 10 has 12 samples.*max_shot \+ n_query = "
                                         r"9 \+ 5 = 14"):
        SpecSampler(labels, describer)
    with pytest.warns(UserWarning, match="dropped 1 of 11"):
        sampler = SpecSampler(labels, describer, n_episodes=200, drop_small_classes=True)
    assert all((labels[np.asarray(ep)] != 10).all() for ep in sampler)


def test_imbalanced_bad_configuration():
    with pytest.raises(ValueError, match="profile must be one of"):
        ImbalancedShots(profile="zipf")
    with pytest.raises(ValueError, match="max_shot must be >= 4"):
        ImbalancedShots(min_shot=4, max_shot=2)


def test_variable_refuses_only_an_episode_whose_ways_exceed_the_budget():
    """Meta-Dataset's rule: a support budget below max_ways_upper_bound is a valid configuration;
    only an episode that draws more ways than the budget is refused."""
    labels = np.repeat(np.arange(60), 20)
    d = VariableWaysShots(max_ways_upper_bound=50, max_support_set_size=20)  # used to be refused
    index = ClassIndex.build(labels)
    drawn = {"ok": 0, "refused": 0}
    rng = np.random.default_rng(0)
    for _ in range(200):
        try:
            spec = d(rng, index, np.arange(60))
        except ValueError as err:
            assert "fewer than one per class" in str(err)
            drawn["refused"] += 1
        else:
            assert len(spec.classes) <= 20 and int(spec.n_support.sum()) <= 20
            drawn["ok"] += 1
    assert drawn["ok"] > 0 and drawn["refused"] > 0

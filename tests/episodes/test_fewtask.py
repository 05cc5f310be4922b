"""Few-task regime: a fixed class subset and a fixed pool of tasks (episodes.fewtask)."""

import numpy as np
import pytest

from episodes import (
    ClassSubset,
    EpisodeSampler,
    FixedShots,
    SpecSampler,
    TaskPoolSampler,
    choose_classes,
    few_task_sampler,
)


def test_choose_classes_is_fixed_by_its_own_seed(labels):
    a = choose_classes(labels, 6, seed=3)
    assert len(a) == 6 and len(set(a.tolist())) == 6 and set(a.tolist()) <= set(labels.tolist())
    assert (a == choose_classes(labels, 6, seed=3)).all()
    assert not (a == choose_classes(labels, 6, seed=4)).all()
    with pytest.raises(ValueError, match="only 20"):
        choose_classes(labels, 21)


def test_class_subset_episodes_use_only_kept_classes_and_cover_them(labels):
    keep = choose_classes(labels, 7, seed=0)
    sampler = SpecSampler(labels, ClassSubset(FixedShots(5, 2, 3), tuple(keep.tolist())), n_episodes=400, seed=1)
    seen = np.concatenate([labels[np.asarray(idx)] for idx in sampler])
    assert set(seen.tolist()) == set(keep.tolist())
    counts = np.bincount(seen, minlength=20)[keep]
    assert counts.min() > 0.8 * counts.mean()  # kept classes drawn about uniformly
    for idx in SpecSampler(labels, ClassSubset(FixedShots(5, 2, 3), tuple(keep.tolist())), n_episodes=50, seed=2):
        per_class = np.unique(labels[np.asarray(idx)], return_counts=True)[1]
        assert len(per_class) == 5 and (per_class == 5).all()
    with pytest.raises(ValueError, match="n_way"):
        SpecSampler(labels, ClassSubset(FixedShots(8, 1, 1), tuple(keep.tolist())), n_episodes=5)
    with pytest.raises(ValueError, match="absent"):
        SpecSampler(labels, ClassSubset(FixedShots(2, 1, 1), (0, 99)), n_episodes=5)


def test_task_pool_repeats_a_fixed_finite_set_of_tasks(labels):
    sampler = TaskPoolSampler(labels, FixedShots(5, 1, 2), n_tasks=4, n_episodes=200, seed=1, pool_seed=7)
    episodes = [tuple(idx) for idx in sampler]
    pool = {tuple(sampler.pool_task(k).indices.tolist()) for k in range(4)}
    assert set(episodes) == pool and len(pool) == 4  # every episode is one of the 4 tasks, each used
    other_seed = TaskPoolSampler(labels, FixedShots(5, 1, 2), n_tasks=4, n_episodes=200, seed=2, pool_seed=7)
    assert {tuple(idx) for idx in other_seed} == pool  # the pool does not depend on the training seed
    assert [tuple(idx) for idx in other_seed] != episodes  # the order of use does
    again = TaskPoolSampler(labels, FixedShots(5, 1, 2), n_tasks=4, n_episodes=200, seed=1, pool_seed=7)
    assert [tuple(idx) for idx in again] == episodes


def test_task_pool_resumes_and_refuses_another_pool(labels):
    a = TaskPoolSampler(labels, FixedShots(5, 1, 2), n_tasks=3, n_episodes=30, seed=1)
    it = iter(a)
    first = [next(it) for _ in range(10)]
    b = TaskPoolSampler(labels, FixedShots(5, 1, 2), n_tasks=3, n_episodes=30, seed=1)
    b.load_state_dict(a.state_dict())
    assert list(b) == list(it)
    assert len(first) == 10
    c = TaskPoolSampler(labels, FixedShots(5, 1, 2), n_tasks=5, n_episodes=30, seed=1)
    with pytest.raises(ValueError, match="task pool"):
        c.load_state_dict(a.state_dict())


def test_few_task_sampler_builds_each_regime(labels):
    assert type(few_task_sampler(labels, 5, 1, 2, 10)) is EpisodeSampler
    subset = few_task_sampler(labels, 5, 1, 2, 100, classes=6, subset_seed=2)
    assert set(np.concatenate([labels[i] for i in subset]).tolist()) == set(choose_classes(labels, 6, 2).tolist())
    listed = few_task_sampler(labels, 2, 1, 2, 50, classes=[3, 4, 5])
    assert set(np.concatenate([labels[i] for i in listed]).tolist()) == {3, 4, 5}
    both = few_task_sampler(labels, 5, 1, 2, 100, classes=6, tasks=2, subset_seed=2)
    assert isinstance(both, TaskPoolSampler) and len({tuple(i) for i in both}) == 2
    assert set(np.concatenate([labels[i] for i in both]).tolist()) <= set(choose_classes(labels, 6, 2).tolist())

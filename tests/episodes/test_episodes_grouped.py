"""Multi-domain (ByDomain) and hierarchy-aware (WithinParent) episodes."""

import numpy as np
import pytest
from scipy import stats

from episodes import (
    ByDomain,
    EpisodeCollate,
    FixedShots,
    SpecSampler,
    VariableWaysShots,
    WithinParent,
    concat_domains,
)


@pytest.fixture
def three_domains():
    """Three data sets whose label ids overlap (0..n-1 each), concatenated."""
    sets = [np.repeat(np.arange(8), 12), np.repeat(np.arange(6), 10), np.repeat(np.arange(10), 9)]
    labels, domains = concat_domains(sets)
    offsets = np.cumsum([0] + [len(s) for s in sets])
    return labels, domains, offsets


def test_concat_domains_keys_classes_by_domain_and_label(three_domains):
    labels, domains, offsets = three_domains
    assert offsets.tolist() == [0, 96, 156, 246] and domains[96] == 1 and labels[96] == 0
    sampler = SpecSampler(labels, FixedShots(3, 2, 3), domains=domains)
    assert sampler.index.n_classes == 24
    assert np.bincount(sampler.index.domains).tolist() == [8, 6, 10]


def test_domain_frequencies_follow_the_weights(three_domains):
    labels, domains, offsets = three_domains
    weights = [0.2, 0.3, 0.5]
    sampler = SpecSampler(labels, ByDomain(FixedShots(3, 2, 3), weights), n_episodes=2000,
                          seed=0, domains=domains)
    counts = np.zeros(3)
    for episode in sampler.iter_episodes():
        d = episode.spec.domain
        counts[d] += 1
        idx = episode.indices
        assert ((idx >= offsets[d]) & (idx < offsets[d + 1])).all()  # one domain only
        assert len(set(idx.tolist())) == len(idx)
    assert stats.chisquare(counts, 2000 * np.array(weights)).pvalue > 1e-3


def test_uniform_domains_mapping_weights_and_mixed_episodes(three_domains):
    labels, domains, _ = three_domains
    uniform = SpecSampler(labels, ByDomain(FixedShots(3, 1, 1)), n_episodes=1500, seed=1,
                          domains=domains)
    counts = np.bincount([e.spec.domain for e in uniform.iter_episodes()], minlength=3)
    assert stats.chisquare(counts).pvalue > 1e-3
    only_two = SpecSampler(labels, ByDomain(FixedShots(3, 1, 1), {2: 1.0}), n_episodes=50,
                           domains=domains)
    assert {e.spec.domain for e in only_two.iter_episodes()} == {2}
    mixed = SpecSampler(labels, ByDomain(FixedShots(5, 1, 1), p_mixed=0.3), n_episodes=1000,
                        seed=2, domains=domains)
    episodes = list(mixed.iter_episodes())
    n_mixed = sum(e.spec.domain is None for e in episodes)
    assert stats.binomtest(n_mixed, 1000, 0.3).pvalue > 1e-3
    spans = [len(set(domains[e.indices].tolist())) for e in episodes if e.spec.domain is None]
    assert max(spans) > 1


def test_variable_episodes_per_domain_collate_with_global_labels(three_domains):
    labels, domains, _ = three_domains
    sampler = SpecSampler(labels, ByDomain(VariableWaysShots(min_ways=3)), n_episodes=20,
                          seed=3, domains=domains)
    collate = EpisodeCollate.from_sampler(sampler)
    for episode in sampler.iter_episodes():
        assert 3 <= episode.spec.n_way <= [8, 6, 10][episode.spec.domain]
        batch = [(0, labels[i]) for i in episode.indices]
        _, s_labels, _, q_labels = collate(batch)
        assert s_labels.tolist() == episode.spec.support_labels().tolist()
        assert q_labels.tolist() == episode.spec.query_labels().tolist()


def test_domain_errors_name_the_domain(three_domains):
    labels, domains, _ = three_domains
    with pytest.raises(ValueError, match="domain 1: n_way=7 is more than the 6 classes"):
        SpecSampler(labels, ByDomain(FixedShots(7, 1, 1)), domains=domains)
    with pytest.raises(ValueError, match="domain 3 has weight 1.0 but no class"):
        SpecSampler(labels, ByDomain(FixedShots(2, 1, 1), [1, 1, 1, 1]), domains=domains)
    with pytest.raises(ValueError, match="pass domains= to the sampler"):
        SpecSampler(labels, ByDomain(FixedShots(2, 1, 1)))
    with pytest.raises(ValueError, match="domain weights must be"):
        ByDomain(FixedShots(), [0, -1])
    with pytest.raises(ValueError, match="domains must hold one non-negative integer"):
        SpecSampler(labels, FixedShots(2, 1, 1), domains=domains[:-1])


@pytest.fixture
def hierarchy():
    """12 classes x 20 samples in 4 super-categories holding 5, 4, 2 and 1 classes."""
    class_parent = np.array(["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"])
    labels = np.repeat(np.arange(12), 20)
    return labels, class_parent[labels], dict(enumerate(class_parent.tolist()))


def test_within_parent_uses_one_super_category(hierarchy):
    labels, per_sample, _ = hierarchy
    with pytest.warns(UserWarning, match="2 of 4 super-categories have fewer than 3"):
        sampler = SpecSampler(labels, WithinParent(FixedShots(3, 2, 2)), n_episodes=1000,
                              seed=0, parents=per_sample)
    chosen = np.zeros(2)
    for episode in sampler.iter_episodes():
        parents = set(per_sample[episode.indices].tolist())
        assert len(parents) == 1 and parents <= {"a", "b"}
        chosen[parents == {"b"}] += 1
    assert stats.chisquare(chosen).pvalue > 1e-3  # uniform over eligible super-categories


def test_within_parent_mapping_equals_per_sample_and_caps_ways(hierarchy):
    labels, per_sample, mapping = hierarchy
    describer = WithinParent(VariableWaysShots(min_ways=2))
    with pytest.warns(UserWarning, match="1 of 4 super-categories"):
        a = SpecSampler(labels, describer, n_episodes=200, seed=1, parents=per_sample)
        b = SpecSampler(labels, describer, n_episodes=200, seed=1, parents=mapping)
    assert list(a) == list(b)
    for episode in a.iter_episodes():
        parents = per_sample[episode.indices]
        assert (parents == parents[0]).all()
        assert episode.spec.n_way <= {"a": 5, "b": 4, "c": 2}[parents[0]]


def test_within_parent_p_ignore_mixes_super_categories(hierarchy):
    labels, per_sample, _ = hierarchy
    with pytest.warns(UserWarning, match="1 of 4 super-categories"):
        sampler = SpecSampler(labels, WithinParent(FixedShots(2, 1, 1), p_ignore=0.5),
                              n_episodes=300, seed=4, parents=per_sample)
    spans = [len(set(per_sample[np.asarray(ep)].tolist())) for ep in sampler]
    assert 0.3 < np.mean(np.array(spans) > 1) < 0.6


def test_hierarchy_errors(hierarchy):
    labels, per_sample, mapping = hierarchy
    with pytest.raises(ValueError, match="no super-category has the 6 classes"):
        SpecSampler(labels, WithinParent(FixedShots(6, 1, 1)), parents=per_sample)
    with pytest.raises(ValueError, match="pass parents= to the sampler"):
        SpecSampler(labels, WithinParent(FixedShots(2, 1, 1)))
    with pytest.raises(ValueError, match="parents has no entry for 1 classes: 11"):
        SpecSampler(labels, FixedShots(2, 1, 1), parents={k: v for k, v in mapping.items()
                                                          if k != 11})
    mixed = per_sample.copy()
    mixed[0] = "b"
    with pytest.raises(ValueError, match="one parent.*class 0"):
        SpecSampler(labels, FixedShots(2, 1, 1), parents=mixed)

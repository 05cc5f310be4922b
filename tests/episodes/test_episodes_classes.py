"""Reading labels from every accepted source, and the per-class index."""

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from episodes import ClassIndex, EpisodeSampler, labels_of


class WithTargets:
    def __init__(self, targets):
        self.targets = targets


class WithLabels:
    def __init__(self, labels):
        self.labels = labels


@pytest.mark.parametrize("wrap", [list, np.asarray, torch.tensor, WithTargets, WithLabels,
                                  lambda y: WithTargets(torch.tensor(y))])
def test_label_sources_give_the_same_episodes(labels, wrap):
    expected = list(EpisodeSampler(labels, n_episodes=5, seed=0))
    assert list(EpisodeSampler(wrap(labels.tolist()), n_episodes=5, seed=0)) == expected


def test_subset_and_string_labels():
    base = WithTargets([0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(labels_of(Subset(base, [5, 0, 1])), [2, 0, 1])
    words = ["owl", "cat"] * 20
    sampler = EpisodeSampler(words, n_way=2, k_shot=1, n_query=1, n_episodes=3)
    assert sampler.classes.tolist() == ["cat", "owl"]


@pytest.mark.parametrize("bad, message", [
    (np.zeros(5), "integers or strings"),
    (np.zeros((2, 3), dtype=int), "1-D"),
    ([], "non-empty"),
    (object(), "cannot find labels in object"),
])
def test_bad_labels_are_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        labels_of(bad)


def test_class_index_groups_every_sample(labels):
    index = ClassIndex.build(labels)
    assert index.n_classes == 20 and index.sizes.tolist() == [30] * 20
    assert sorted(index.members.tolist()) == list(range(600))
    for c in range(20):
        np.testing.assert_array_equal(index.of(c), np.flatnonzero(labels == index.labels[c]))
    kept = index.subset(index.labels % 2 == 0)
    assert kept.labels.tolist() == list(range(0, 20, 2))
    np.testing.assert_array_equal(kept.of(3), np.flatnonzero(labels == 6))

"""Shared fixtures for the episodes tests: small labelled data sets."""

import numpy as np
import pytest
import torch


@pytest.fixture
def labels():
    """20 classes x 30 samples, shuffled so class members are not contiguous."""
    rng = np.random.default_rng(1234)
    return rng.permutation(np.repeat(np.arange(20), 30))


@pytest.fixture
def images(labels):
    """(600, 6, 6, 3) uint8 images; pixel values encode the sample index."""
    n = len(labels)
    base = torch.arange(n, dtype=torch.int64).reshape(n, 1, 1, 1)
    noise = torch.arange(6 * 6 * 3).reshape(1, 6, 6, 3)
    return ((base * 7 + noise) % 256).to(torch.uint8)


@pytest.fixture
def episode_classes():
    """f(labels, indices, n_way, k_shot, n_query) -> original labels of support and query,
    as (n_way, k_shot) and (n_way, n_query) arrays (the yielded layout read back)."""

    def split(labels, indices, n_way, k_shot, n_query):
        indices = np.asarray(indices)
        support = labels[indices[:n_way * k_shot]].reshape(n_way, k_shot)
        query = labels[indices[n_way * k_shot:]].reshape(n_way, n_query)
        return support, query

    return split

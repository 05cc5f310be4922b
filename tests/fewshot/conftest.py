"""Shared fixtures for tests/fewshot."""

import pytest
import torch

from fewshot.runs.rng import set_deterministic


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    set_deterministic(det)

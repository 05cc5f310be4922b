"""EpisodeCollate and the TensorEpisodes fast path give exactly the same tensors."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from episodes import (
    EpisodeCollate,
    EpisodeSampler,
    ImbalancedShots,
    SpecSampler,
    TensorEpisodes,
    VariableWaysShots,
    infer_layout,
)


def assert_identical(batches_a, batches_b):
    assert len(batches_a) == len(batches_b) > 0
    for a, b in zip(batches_a, batches_b):
        assert len(a) == len(b) == 4
        for x, y in zip(a, b):
            assert x.dtype == y.dtype and x.device == y.device
            torch.testing.assert_close(x, y, rtol=0, atol=0)


def loader_batches(images, labels, sampler, collate=None):
    dataset = TensorDataset(images, torch.as_tensor(labels))
    collate = collate or EpisodeCollate.from_sampler(sampler)
    return list(DataLoader(dataset, batch_sampler=sampler, collate_fn=collate))


def test_collate_labels_and_shapes(labels, images):
    sampler = EpisodeSampler(labels, n_way=4, k_shot=2, n_query=3, n_episodes=10, seed=0)
    for episode, (support, s_labels, query, q_labels) in zip(
            sampler.iter_episodes(), loader_batches(images, labels, sampler.shard(0, 1))):
        assert support.shape == (8, 6, 6, 3) and query.shape == (12, 6, 6, 3)
        assert support.dtype == torch.uint8
        assert s_labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
        assert q_labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
        # the images are those of the yielded indices, local label j = j-th class of the spec
        torch.testing.assert_close(torch.cat([support, query]), images[episode.indices])
        true = labels[episode.indices]
        assert (true == sampler.classes[episode.spec.classes][np.r_[s_labels, q_labels]]).all()


def test_fast_path_equals_collate_path(labels, images):
    slow = loader_batches(images, labels, EpisodeSampler(labels, 5, 1, 15, n_episodes=12, seed=6))
    fast = list(TensorEpisodes(images, EpisodeSampler(labels, 5, 1, 15, n_episodes=12, seed=6)))
    assert_identical(slow, fast)


def test_fast_path_from_a_memory_mapped_array(labels, images, tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, images.numpy())
    mapped = np.load(path, mmap_mode="r")
    a = list(TensorEpisodes(images, EpisodeSampler(labels, n_episodes=5, seed=1)))
    b = list(TensorEpisodes(mapped, EpisodeSampler(labels, n_episodes=5, seed=1)))
    assert_identical(a, b)


def test_fast_path_on_non_contiguous_data_and_features(labels, images):
    strided = images.transpose(1, 2).contiguous().transpose(1, 2)
    assert not strided.is_contiguous()
    a = list(TensorEpisodes(images, EpisodeSampler(labels, n_episodes=4, seed=1)))
    b = list(TensorEpisodes(strided, EpisodeSampler(labels, n_episodes=4, seed=1)))
    assert_identical(a, b)
    features = torch.randn(len(labels), 16, dtype=torch.float64)
    slow = loader_batches(features, labels, EpisodeSampler(labels, n_episodes=4, seed=1))
    fast = list(TensorEpisodes(features, EpisodeSampler(labels, n_episodes=4, seed=1)))
    assert_identical(slow, fast)
    assert fast[0][0].shape == (5, 16) and fast[0][0].dtype == torch.float64


def test_meta_batch_stacks_the_single_episodes(labels, images):
    singles = list(TensorEpisodes(images, EpisodeSampler(labels, 3, 2, 4, n_episodes=7, seed=2)))
    stacked = TensorEpisodes(images, EpisodeSampler(labels, 3, 2, 4, n_episodes=7, seed=2),
                             meta_batch=3)
    batches = list(stacked)
    assert len(batches) == len(stacked) == 3
    assert [b[0].shape[0] for b in batches] == [3, 3, 1]
    assert batches[0][0].shape == (3, 6, 6, 6, 3) and batches[0][1].shape == (3, 6)
    unstacked = [tuple(t[j] for t in batch) for batch in batches for j in range(len(batch[0]))]
    assert_identical(singles, unstacked)


def test_transform_runs_after_the_move_on_uint8(labels, images):
    seen = []

    def normalise(x):
        seen.append((x.dtype, x.device, x.shape))
        return (x.float() / 255 - 0.5) / 0.25

    raw = list(TensorEpisodes(images, EpisodeSampler(labels, n_episodes=3, seed=0)))
    out = list(TensorEpisodes(images, EpisodeSampler(labels, n_episodes=3, seed=0),
                              device="cpu", transform=normalise))
    assert seen == [(torch.uint8, torch.device("cpu"), (80, 6, 6, 3))] * 3
    for (s, _, q, _), (fs, _, fq, _) in zip(raw, out):
        torch.testing.assert_close(fs, (s.float() / 255 - 0.5) / 0.25)
        torch.testing.assert_close(fq, (q.float() / 255 - 0.5) / 0.25)


@pytest.mark.parametrize("describer", [VariableWaysShots(min_ways=3, max_ways_upper_bound=12),
                                       ImbalancedShots(n_way=4, n_query=2, max_shot=6)])
def test_variable_episodes_inferred_collate_equals_fast_path(labels, images, describer):
    slow = loader_batches(images, labels, SpecSampler(labels, describer, n_episodes=10, seed=3))
    fast = list(TensorEpisodes(images, SpecSampler(labels, describer, n_episodes=10, seed=3)))
    assert_identical(slow, fast)
    assert len({len(b[0]) for b in fast}) > 1  # shapes really vary


def test_tensor_episodes_moves_the_sampler_state(labels, images):
    sampler = EpisodeSampler(labels, n_episodes=6, seed=8)
    episodes = iter(TensorEpisodes(images, sampler))
    next(episodes), next(episodes)
    assert sampler.state_dict()["position"] == 2
    resumed = EpisodeSampler(labels, n_episodes=6, seed=0)
    resumed.load_state_dict(sampler.state_dict())
    assert_identical(list(episodes), list(TensorEpisodes(images, resumed)))


class ImagesOnly(Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def test_fixed_collate_accepts_inputs_without_targets(labels, images):
    sampler = EpisodeSampler(labels, 2, 1, 1, n_episodes=2, seed=0)
    loader = DataLoader(ImagesOnly(images), batch_sampler=sampler,
                        collate_fn=EpisodeCollate(2, 1, 1))
    support, s_labels, query, q_labels = next(iter(loader))
    assert support.shape == (2, 6, 6, 3) and s_labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="must be \\(input, target\\) pairs"):
        EpisodeCollate()([images[0], images[1]])


def test_collate_errors_are_clear(images):
    with pytest.raises(ValueError, match="expects 80 samples per episode, got 3"):
        EpisodeCollate(5, 1, 15)([(images[i], 0) for i in range(3)])
    with pytest.raises(ValueError, match="give all of n_way"):
        EpisodeCollate(5)
    # 3-way 1-shot 1-query whose first and last classes share target 1: runs do not pair up
    with pytest.raises(ValueError, match="cannot tell support from query"):
        infer_layout([1, 2, 1, 1, 2, 1])
    with pytest.raises(ValueError, match="cannot tell support from query"):
        infer_layout([3, 3, 3])  # 1-way


def test_infer_layout_reads_the_runs():
    n_support, labels = infer_layout(["b", "b", "a", "c", "c", "c", "b", "a", "c"])
    assert n_support == 6
    assert labels.tolist() == [0, 0, 1, 2, 2, 2, 0, 1, 2]


def test_tensor_episodes_bad_input(labels, images):
    sampler = EpisodeSampler(labels, n_episodes=2)
    with pytest.raises(ValueError, match="600 samples"):
        TensorEpisodes(images[:10], sampler)
    with pytest.raises(ValueError, match="tensor or numpy array"):
        TensorEpisodes(images.tolist(), sampler)
    with pytest.raises(ValueError, match="meta_batch needs episodes of one shape"):
        TensorEpisodes(images, SpecSampler(labels, VariableWaysShots()), meta_batch=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("pin_memory", [False, True])
def test_fast_path_on_cuda_equals_cpu(labels, images, pin_memory):
    cpu = list(TensorEpisodes(images, EpisodeSampler(labels, n_episodes=4, seed=1),
                              transform=lambda x: x.float() / 255))
    gpu = list(TensorEpisodes(images, EpisodeSampler(labels, n_episodes=4, seed=1),
                              device="cuda", pin_memory=pin_memory,
                              transform=lambda x: x.float() / 255))
    for a, b in zip(cpu, gpu):
        for x, y in zip(a, b):
            assert y.device.type == "cuda"
            torch.testing.assert_close(x, y.cpu(), rtol=0, atol=0)

"""The sampler on other libraries' data sets: learn2learn MetaDataset, Hugging Face datasets,
torchvision data sets without ``targets``, and dict-shaped items."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from episodes import EpisodeCollate, EpisodeSampler, SpecSampler, VariableWaysShots, labels_of


def blobs(n_classes=5, per_class=12, dim=4):
    """(inputs, labels): per_class samples of each class, classes interleaved."""
    labels = torch.arange(n_classes).repeat(per_class)
    inputs = labels[:, None].float() + 0.01 * torch.arange(len(labels))[:, None].repeat(1, dim)
    return inputs, labels


class DictItems(Dataset):
    """Items like a Hugging Face image data set's: {"pixels": tensor, "name": str, "label": int}."""

    def __init__(self, inputs, labels, label_key="label"):
        self.inputs, self.labels_, self.key = inputs, labels, label_key

    def __len__(self):
        return len(self.labels_)

    def __getitem__(self, i):
        return {"pixels": self.inputs[i], "name": f"item{i}", self.key: int(self.labels_[i])}


class FakeHFDataset(DictItems):
    """Duck-typed ``datasets.Dataset``: ``column_names`` and ``dataset[column]`` (a column)."""

    @property
    def column_names(self):
        return ["pixels", "name", self.key]

    def __getitem__(self, key):
        if isinstance(key, str):
            if key == self.key:
                return [int(y) for y in self.labels_]
            raise KeyError(key)
        return super().__getitem__(key)


def test_learn2learn_meta_dataset_reads_indices_to_labels():
    l2l = pytest.importorskip("learn2learn")
    inputs, labels = blobs(n_classes=10, per_class=7)
    meta = l2l.data.MetaDataset(TensorDataset(inputs, labels))
    assert len(meta.labels) == 10  # the distinct classes, not one per sample
    np.testing.assert_array_equal(labels_of(meta), labels.numpy())
    np.testing.assert_array_equal(labels_of(Subset(meta, [3, 0])), labels[[3, 0]].numpy())
    sampler = EpisodeSampler(meta, n_way=5, k_shot=2, n_query=5, n_episodes=3, seed=0)
    assert sampler.index.sizes.tolist() == [7] * 10
    for indices in sampler:
        support, query = labels[indices[:10]].reshape(5, 2), labels[indices[10:]].reshape(5, 5)
        assert (support == support[:, :1]).all() and (query == support[:, :1]).all()
        assert len(set(support[:, 0].tolist())) == 5


def test_a_labels_attribute_that_is_not_per_sample_is_refused():
    class DistinctClasses(Dataset):  # what learn2learn's MetaDataset.labels looks like
        labels = list(range(10))

        def __len__(self):
            return 1797

    with pytest.raises(ValueError, match="holds 1797 samples but its labels attribute has 10"):
        labels_of(DistinctClasses())


def test_hugging_face_style_label_column():
    inputs, labels = blobs()
    fake = FakeHFDataset(inputs, labels)
    np.testing.assert_array_equal(labels_of(fake), labels.numpy())
    assert list(EpisodeSampler(fake, 3, 1, 2, n_episodes=4)) == list(
        EpisodeSampler(labels, 3, 1, 2, n_episodes=4))
    np.testing.assert_array_equal(labels_of(FakeHFDataset(inputs, labels, "labels")), labels)
    with pytest.raises(ValueError, match="no 'label' or 'labels' column .*dataset\\['fine_label'\\]"):
        labels_of(FakeHFDataset(inputs, labels, "fine_label"))


def test_real_hugging_face_dataset():
    datasets = pytest.importorskip("datasets")
    inputs, labels = blobs()
    ds = datasets.Dataset.from_dict({"x": inputs.tolist(), "label": labels.tolist()})
    np.testing.assert_array_equal(labels_of(ds), labels.numpy())
    sampler = EpisodeSampler(ds, 3, 2, 2, n_episodes=2, seed=1)
    loader = DataLoader(ds.with_format("torch"), batch_sampler=sampler,
                        collate_fn=EpisodeCollate.from_sampler(sampler))
    support, support_labels, query, query_labels = next(iter(loader))
    assert set(support) == {"x"} and support["x"].shape == (6, 4)
    assert query["x"].shape == (6, 4) and support_labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_torchvision_data_set_without_targets():
    datasets = pytest.importorskip("torchvision.datasets")
    transforms = pytest.importorskip("torchvision.transforms")
    fake = datasets.FakeData(size=24, image_size=(1, 4, 4), num_classes=3,
                             transform=transforms.ToTensor())
    with pytest.raises(ValueError, match=r"cannot find labels in FakeData.*scan=True"):
        labels_of(fake)
    scanned = labels_of(fake, scan=True)
    assert scanned.tolist() == [int(fake[i][1]) for i in range(24)]
    assert scanned.dtype.kind == "i"


def test_scan_reads_dict_items_and_refuses_other_items():
    inputs, labels = blobs()
    np.testing.assert_array_equal(labels_of(DictItems(inputs, labels), scan=True), labels)

    class Bare(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.zeros(2)

    with pytest.raises(ValueError, match="item 0 is a Tensor, not an \\(input, label\\) pair"):
        labels_of(Bare(), scan=True)


def test_dict_items_are_collated_key_by_key():
    inputs, labels = blobs()
    data = DictItems(inputs, labels)
    sampler = EpisodeSampler(labels, n_way=3, k_shot=2, n_query=1, n_episodes=2, seed=0)
    loader = DataLoader(data, batch_sampler=sampler, collate_fn=EpisodeCollate.from_sampler(sampler))
    indices = next(iter(sampler))
    sampler.set_epoch(0)
    sampler.load_state_dict({**sampler.state_dict(), "position": 0})
    support, support_labels, query, query_labels = next(iter(loader))
    assert set(support) == {"pixels", "name"}  # the label key is replaced by episode-local labels
    torch.testing.assert_close(support["pixels"], inputs[indices[:6]])
    torch.testing.assert_close(query["pixels"], inputs[indices[6:]])
    assert support["name"] == [f"item{i}" for i in indices[:6]]
    assert support_labels.tolist() == [0, 0, 1, 1, 2, 2] and query_labels.tolist() == [0, 1, 2]


def test_dict_items_with_variable_layout_read_the_label_key():
    inputs, labels = blobs(n_classes=6, per_class=10)
    describer = VariableWaysShots(min_ways=3, max_ways_upper_bound=6, max_num_query=3,
                                  max_support_set_size=20)
    sampler = SpecSampler(labels, describer, n_episodes=3, seed=0)
    data = DictItems(inputs, labels, label_key="y")
    collate = EpisodeCollate.from_sampler(sampler, label_key="y")
    loader = DataLoader(data, batch_sampler=sampler.shard(0, 1), collate_fn=collate)  # a copy
    for episode, (support, s_labels, query, q_labels) in zip(sampler.iter_episodes(), loader):
        assert s_labels.tolist() == episode.spec.support_labels().tolist()
        assert q_labels.tolist() == episode.spec.query_labels().tolist()
        assert set(support) == set(query) == {"pixels", "name"}
    with pytest.raises(ValueError, match="dicts with a 'label' key \\(see label_key\\)"):
        EpisodeCollate()([data[0], data[1]])
    with pytest.raises(ValueError, match="holds only the label key 'label'"):
        EpisodeCollate(1, 1, 1)([{"label": 0}, {"label": 0}])

"""CIFAR-FS and FC100 pickles (``data`` + ``labels``), and the data-only unpickler."""

import pickle

import numpy as np
import pytest

from fewshot.data import DataNotFoundError, load_split
from fewshot.data.safe_pickle import load_pickle


@pytest.mark.parametrize("name,prefix", [("cifar_fs", "CIFAR_FS"), ("fc100", "FC100")])
def test_split_pickles(tmp_path, w, name, prefix):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    ids = [57, 3, 57, 12, 3, 57]  # CIFAR-100 fine ids, interleaved
    w.write_pickle(tmp_path / f"{prefix}_val.pickle", {"data": data, "labels": ids})
    split = load_split(name, "val", root=tmp_path, progress=False)
    assert split.class_names == ["cifar100-3", "cifar100-12", "cifar100-57"]
    np.testing.assert_array_equal(split.labels, [0, 0, 1, 2, 2, 2])  # stored class by class
    np.testing.assert_array_equal(np.asarray(split.images), data[[1, 4, 3, 0, 2, 5]])
    assert split.images.shape[1:] == (32, 32, 3)


def test_python2_style_pickle_with_bytes_keys(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)
    (tmp_path / "FC100_test.pkl").write_bytes(pickle.dumps({b"data": arr, b"labels": [4]}, protocol=2))
    split = load_split("fc100", "test", root=tmp_path, image_size=2, progress=False)
    np.testing.assert_array_equal(split.images[0], arr[0])


class Evil:
    def __reduce__(self):
        return (print, ("this would run",))


def test_unpickler_refuses_code(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"data": Evil()}))
    with pytest.raises(ValueError, match="not a plain data pickle.*builtins.print"):
        load_pickle(path)


def test_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="CIFAR_FS_train.pickle.*\n.*MetaOptNet"):
        load_split("cifar_fs", "train", root=tmp_path)

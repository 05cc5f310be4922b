"""Fashion-MNIST idx files (gzipped or not), and the real files when Debian's package is installed."""

from pathlib import Path

import numpy as np
import pytest

from fewshot.data import DataNotFoundError, load_split
from fewshot.data.fashion_mnist import DEFAULT_ROOT, read_idx


def _write(root, w, gz=True):
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", 12), ("t10k", 8)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        w.write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
        w.write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
        out[prefix] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, w, gz):
    written = _write(tmp_path, w, gz)
    test = load_split("fashion_mnist", "test", root=tmp_path, progress=False)
    images, labels = written["t10k"]
    order = np.argsort(labels, kind="stable")
    assert test.num_classes == 10 and test.class_names[9] == "Ankle boot"
    np.testing.assert_array_equal(test.labels, labels[order])
    np.testing.assert_array_equal(np.asarray(test.images), images[order])
    both = load_split("fashion_mnist", "all", root=tmp_path, progress=False)
    assert len(both) == 20 and both.images.ndim == 3


def test_idx_header_checks(tmp_path, w):
    w.write_idx(tmp_path / "x.gz", np.zeros((2, 3, 3), np.uint8))
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), np.zeros((2, 3, 3)))
    raw = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") * 2 + bytes(10)
    (tmp_path / "short").write_bytes(raw)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x1f\x8b\x08\x00" + bytes(20))
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(tmp_path / "magic")
    (tmp_path / "float").write_bytes(bytes([0, 0, 0x0D, 1]) + (1).to_bytes(4, "big") + bytes(4))
    with pytest.raises(ValueError, match="not unsigned byte"):
        read_idx(tmp_path / "float")


def test_missing_names_the_package(tmp_path):
    with pytest.raises(DataNotFoundError, match="(?s)t10k-images-idx3-ubyte.gz.*apt-get install dataset-fashion-mnist"):
        load_split("fashion_mnist", "test", root=tmp_path)


@pytest.mark.skipif(not (Path(DEFAULT_ROOT) / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_files():
    data = load_split("fashion_mnist", "test", progress=False)
    assert data.images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(data.labels), [1000] * 10)
    assert 60 < float(np.asarray(data.images[:500]).mean()) < 90  # light garments on black


def test_fewshot_data_is_honoured_like_every_data_set(tmp_path, w, monkeypatch):
    """`$FEWSHOT_DATA/fashion-mnist` is found without a root, as `--data-root` / data.root are."""
    from fewshot.data.fashion_mnist import default_root

    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "data"))
    (tmp_path / "data" / "fashion-mnist").mkdir(parents=True)
    written = _write(tmp_path / "data" / "fashion-mnist", w)
    assert default_root() == tmp_path / "data" / "fashion-mnist"
    test = load_split("fashion_mnist", "test", progress=False)
    assert len(test) == len(written["t10k"][1])
    assert str(tmp_path / "data" / "fashion-mnist") in test.meta["files"][0]
    # an empty $FEWSHOT_DATA: the error names where the files were looked for and how to point elsewhere
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "empty"))
    if not (Path(DEFAULT_ROOT) / "t10k-images-idx3-ubyte.gz").is_file():
        with pytest.raises(DataNotFoundError, match=r"(?s)empty/fashion-mnist.*--data-root"):
            load_split("fashion_mnist", "test", progress=False)

"""CUB-200-2011: Closer Look split (rule and file lists) and the 140 / 30 / 30 split."""

import numpy as np
import pytest
from PIL import Image

from fewshot.data import DataNotFoundError, load_split

CLASSES = [f"{i:03d}.Bird_{i}" for i in range(1, 13)]  # 12 classes, 2 images each


@pytest.fixture
def cub(tmp_path, w):
    images = tmp_path / "CUB_200_2011" / "images"
    return tmp_path, w.image_tree(images, {c: 2 for c in reversed(CLASSES)}, size=12)


def test_closer_look_rule(cub):
    root, written = cub
    splits = {s: load_split("cub", s, root=root, image_size=12, crop="none", progress=False)
              for s in ("base", "val", "novel")}
    assert splits["base"].class_names == CLASSES[0::2]
    assert splits["val"].class_names == CLASSES[1::4]
    assert splits["novel"].class_names == CLASSES[3::4]
    assert [s.num_classes for s in splits.values()] == [6, 3, 3]
    assert sorted(sum((s.class_names for s in splits.values()), [])) == CLASSES  # a partition
    np.testing.assert_array_equal(splits["novel"].images[2], written[CLASSES[7]][0])
    assert "closer_look" in splits["novel"].meta["split_scheme"]
    assert load_split("cub", "test", root=root, image_size=12, progress=False).name == "cub/novel"


def test_default_crop_is_center(cub):
    root, written = cub
    data = load_split("cub", "val", root=root, image_size=8, progress=False)
    big = np.asarray(Image.fromarray(written[CLASSES[1]][1]).resize((9, 9), Image.BILINEAR))
    np.testing.assert_array_equal(data.images[1], big[0:8, 0:8])
    assert data.meta["crop"] == "center"


def test_closer_look_file_lists_are_rerooted(cub, w):
    root, written = cub
    picked = [CLASSES[3], CLASSES[7]]
    names = [f"/home/someone/filelists/CUB/CUB_200_2011/images/{c}/001.jpg" for c in picked]
    w.write_json(root / "CUB_200_2011" / "novel.json",
                 {"label_names": CLASSES, "image_names": names, "image_labels": [3, 7]})
    data = load_split("cub", "novel", root=root / "CUB_200_2011", image_size=12, crop="none",
                      progress=False)
    assert data.class_names == picked and len(data) == 2
    np.testing.assert_array_equal(data.images[1], written[CLASSES[7]][1])
    assert "novel.json" in data.meta["split_scheme"]


def test_meta_dataset_split(cub, tmp_path, w):
    root, _ = cub
    w.write_json(tmp_path / "cu_birds_splits.json",
                 {"train": CLASSES[:8], "valid": CLASSES[8:10], "test": CLASSES[10:]})
    data = load_split("cub", "test", root=root, split_scheme="meta_dataset",
                      split_file=tmp_path / "cu_birds_splits.json", image_size=12, progress=False)
    assert data.class_names == CLASSES[10:] and len(data) == 4
    parts = [load_split("cub", s, root=root, split_scheme="meta_dataset", seed=5, image_size=12,
                        progress=False).class_names for s in ("train", "valid", "test")]
    assert [len(p) for p in parts] == [8, 2, 2]  # int(0.7 * 12), int(0.85 * 12) - 8, the rest
    assert sorted(sum(parts, [])) == CLASSES
    other = load_split("cub", "train", root=root, split_scheme="meta_dataset", seed=6, image_size=12,
                       progress=False).class_names
    assert other != parts[0]  # the seed matters, and is recorded
    assert "seed 5" in load_split("cub", "train", root=root, split_scheme="meta_dataset", seed=5,
                                  image_size=12, progress=False).meta["split_scheme"]


def test_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="CUB_200_2011/images/<class folder>"):
        load_split("cub", "novel", root=tmp_path)
    with pytest.raises(ValueError, match="no split 'support'.*base, val, novel"):
        load_split("cub", "support", root=tmp_path, split_scheme="closer_look")

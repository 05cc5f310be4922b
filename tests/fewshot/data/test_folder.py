"""Any user data: image folders and Closer-Look-style JSON file lists."""

import numpy as np
import pytest

from fewshot.data import DataNotFoundError, load_split


def test_image_folder_splits(tmp_path, w):
    written = w.image_tree(tmp_path / "mydata" / "train", {"cat": 2, "ant": 3}, size=6, ext=".png")
    w.image_tree(tmp_path / "mydata" / "test", {"dog": 2}, size=6)
    (tmp_path / "mydata" / "train" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "mydata" / "train" / ".hidden").mkdir()
    train = load_split("imagefolder", "train", root=tmp_path / "mydata", image_size=6, progress=False)
    assert train.class_names == ["ant", "cat"] and len(train) == 5
    np.testing.assert_array_equal(train.images[4], written["cat"][1])
    with pytest.raises(DataNotFoundError, match="val/<class>/<image>"):
        load_split("imagefolder", "val", root=tmp_path / "mydata")
    with pytest.raises(ValueError, match="needs a root"):
        load_split("imagefolder", "all")


def test_file_list_with_foreign_paths(tmp_path, w):
    written = w.image_tree(tmp_path / "places" / "train", {"airfield": 2, "bakery": 2}, size=6)
    names = [f"/data/other/places365_standard/train/{c}/{i:03d}.jpg" for c in ("bakery", "airfield")
             for i in range(2)]
    w.write_json(tmp_path / "lists" / "novel.json",
                 {"label_names": ["airfield", "bakery"], "image_names": names, "image_labels": [1, 1, 0, 0]})
    data = load_split("filelist", "novel", root=tmp_path / "lists", image_root=tmp_path / "places",
                      image_size=6, crop="none", progress=False)
    assert data.class_names == ["airfield", "bakery"]
    np.testing.assert_array_equal(data.labels, [0, 0, 1, 1])
    np.testing.assert_array_equal(data.images[3], written["bakery"][1])
    with pytest.raises(DataNotFoundError, match="no trailing part"):
        load_split("filelist", "novel", root=tmp_path / "lists", image_root=tmp_path / "elsewhere",
                   image_size=6, progress=False)

"""tieredImageNet: PNG pickles (true RGB in the files) and the npz variant (BGR from cv2)."""

import io

import numpy as np
import pytest
from PIL import Image

from fewshot.data import DataNotFoundError, load_split

# image i has class SPECIFIC[i]; classes 0, 2 in super-category 1, class 1 in super-category 0
SPECIFIC = [2, 0, 1, 0, 2, 1]
GENERAL = [1, 1, 0, 1, 1, 0]


def _labels(path, w):
    w.write_pickle(path, {"label_specific": np.array(SPECIFIC), "label_general": np.array(GENERAL),
                          "label_specific_str": ["n_zero", "n_one", "n_two"],
                          "label_general_str": ["animal", "object"]})


def _images():
    return np.random.default_rng(1).integers(0, 256, (len(SPECIFIC), 84, 84, 3), dtype=np.uint8)


def _png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return np.frombuffer(buf.getvalue(), np.uint8)  # the pickles hold cv2.imencode's uint8 arrays


def test_png_pickle_is_rgb_and_labels_map(tmp_path, w):
    rgb = _images()
    w.write_pickle(tmp_path / "train_images_png.pkl", [_png(x) for x in rgb])
    _labels(tmp_path / "train_labels.pkl", w)
    data = load_split("tieredimagenet", "train", root=tmp_path, progress=False)
    assert data.meta["layout"] == "png" and data.class_names == ["n_zero", "n_one", "n_two"]
    np.testing.assert_array_equal(data.labels, SPECIFIC)
    np.testing.assert_array_equal(np.asarray(data.images), rgb)
    assert data.meta["superclass"] == [1, 0, 1] and data.meta["superclass_names"] == ["animal", "object"]
    bgr = load_split("tieredimagenet", "train", root=tmp_path, color_order="bgr", progress=False)
    np.testing.assert_array_equal(np.asarray(bgr.images), rgb[..., ::-1])


def test_npz_holds_bgr_and_is_flipped(tmp_path, w):
    rgb = _images()
    np.savez(tmp_path / "val_images.npz", images=rgb[..., ::-1])  # as cv2.imdecode wrote it
    _labels(tmp_path / "val_labels.pkl", w)
    data = load_split("tieredimagenet", "val", root=tmp_path, progress=False)
    assert data.meta["layout"] == "npz"
    np.testing.assert_array_equal(np.asarray(data.images), rgb)
    np.savez_compressed(tmp_path / "test_images.npz", images=rgb)  # someone's RGB npz
    _labels(tmp_path / "test_labels.pkl", w)
    same = load_split("tieredimagenet", "test", root=tmp_path, npz_order="rgb", progress=False)
    np.testing.assert_array_equal(np.asarray(same.images), rgb)


def test_resize_and_grey(tmp_path, w):
    rgb = _images()
    w.write_pickle(tmp_path / "train_images_png.pkl", [_png(x) for x in rgb])
    _labels(tmp_path / "train_labels.pkl", w)
    data = load_split("tieredimagenet", "train", root=tmp_path, image_size=10, channels=1, progress=False)
    ref = np.asarray(Image.fromarray(rgb[3]).convert("L").resize((10, 10), Image.BILINEAR))
    np.testing.assert_array_equal(data.images[3], ref)


def test_missing_and_bad_options(tmp_path, w):
    with pytest.raises(DataNotFoundError, match="train_images_png.pkl \\+ train_labels.pkl"):
        load_split("tieredimagenet", "train", root=tmp_path)
    with pytest.raises(ValueError, match="color_order must be 'rgb' or 'bgr'"):
        load_split("tieredimagenet", "train", root=tmp_path, color_order="RGB")


def test_mismatched_counts(tmp_path, w):
    w.write_pickle(tmp_path / "train_images_png.pkl", [_png(x) for x in _images()[:4]])
    _labels(tmp_path / "train_labels.pkl", w)
    with pytest.raises(ValueError, match="holds 4 images but train_labels.pkl 6 labels"):
        load_split("tieredimagenet", "train", root=tmp_path, progress=False)

"""miniImageNet: images + Ravi CSVs, Ren et al.'s pickle cache, raw ImageNet + CSV mapping."""

import numpy as np
import pytest
from PIL import Image

from fewshot.data import DataNotFoundError, load_split

WNIDS = {"train": ["n01532829", "n01558993", "n01704323"], "val": ["n01855672", "n02091244"],
         "test": ["n01930112", "n01981276"]}


def _layout_a(root, w, per_class=3, nested=False):
    written = {}
    for split, wnids in WNIDS.items():
        for filename, wnid in w.mini_csv(root, split, wnids, per_class):
            folder = root / "images" / (wnid if nested else "")
            written[filename] = w.save(folder / filename, w.pixels(len(written), 6))
    return written


@pytest.mark.parametrize("nested", [False, True])
def test_images_and_csv(tmp_path, w, nested):
    written = _layout_a(tmp_path / "mini", w, nested=nested)
    for split, wnids in WNIDS.items():
        data = load_split("miniimagenet", split, root=tmp_path / "mini", image_size=6, progress=False)
        assert data.num_classes == len(wnids) and len(data) == 3 * len(wnids)
        assert data.class_names == sorted(wnids) and data.meta["layout"] == "images"
        rows = [line.split(",") for line in (tmp_path / "mini" / f"{split}.csv").read_text().split()[1:]]
        for i, (filename, wnid) in enumerate(rows):
            assert data.class_names[data.labels[i]] == wnid
            np.testing.assert_array_equal(data.images[i], written[filename])


def test_validation_alias_and_unknown_split(tmp_path, w):
    _layout_a(tmp_path / "mini", w)
    assert load_split("miniimagenet", "validation", root=tmp_path / "mini", image_size=6,
                      progress=False).name == "miniimagenet/val"
    with pytest.raises(ValueError, match="no split 'novel'.*train, val, test"):
        load_split("miniimagenet", "novel", root=tmp_path / "mini")


def test_bad_csv_header(tmp_path, w):
    _layout_a(tmp_path / "mini", w)
    (tmp_path / "mini" / "train.csv").write_text("image,class\nx.jpg,n0\n")
    with pytest.raises(ValueError, match="header 'filename,label'"):
        load_split("miniimagenet", "train", root=tmp_path / "mini", image_size=6, progress=False)


@pytest.mark.parametrize("val_name", ["val", "validation"])
def test_pickle_cache(tmp_path, w, val_name):
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        images = rng.integers(0, 256, (7, 84, 84, 3), dtype=np.uint8)
        # class_dict lists indices out of order and interleaved, as real caches may
        class_dict = {"n02": [4, 0, 2], "n01": [1, 3, 6, 5]}
        name = val_name if split == "val" else split
        w.write_pickle(tmp_path / f"mini-imagenet-cache-{name}.pkl",
                       {"image_data": images, "class_dict": class_dict})
        data = load_split("miniimagenet", split, root=tmp_path, progress=False)
        assert data.meta["layout"] == "pickle" and data.class_names == ["n01", "n02"]
        np.testing.assert_array_equal(data.labels, [0, 0, 0, 0, 1, 1, 1])
        np.testing.assert_array_equal(np.asarray(data.images), images[[1, 3, 6, 5, 4, 0, 2]])


def test_raw_imagenet_with_csv_mapping(tmp_path, w):
    imagenet = tmp_path / "ILSVRC" / "train"
    sizes = {}
    for wnid in WNIDS["test"]:
        for n in (2, 10, 100, 7):  # numeric order 2, 7, 10, 100; string order would differ
            img = w.pixels(n, 12)
            sizes[(wnid, n)] = w.save(imagenet / wnid / f"{wnid}_{n}.JPEG", img)
    rows = [[f"{WNIDS['test'][0]}{k:08d}.jpg", WNIDS["test"][0]] for k in (1, 4)] + \
           [[f"{WNIDS['test'][1]}{k:08d}.jpg", WNIDS["test"][1]] for k in (2, 3)]
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "test.csv").write_text("filename,label\n" + "".join(f"{a},{b}\n" for a, b in rows))
    data = load_split("miniimagenet", "test", root=tmp_path / "csv", image_size=6,
                      imagenet_dir=imagenet, progress=False)
    assert data.meta["layout"] == "imagenet" and len(data) == 4
    picks = [(WNIDS["test"][0], 2), (WNIDS["test"][0], 100), (WNIDS["test"][1], 7), (WNIDS["test"][1], 10)]
    for i, key in enumerate(picks):
        ref = np.asarray(Image.fromarray(sizes[key]).resize((6, 6), Image.BILINEAR))
        np.testing.assert_array_equal(data.images[i], ref)


def test_missing_data_message(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_split("miniimagenet", "train", root=tmp_path / "nowhere")
    msg = str(err.value)
    for expected in ("images/<filename>.jpg + train.csv", "mini-imagenet-cache-train.pkl",
                     "imagenet_dir", "Nothing is downloaded", str(tmp_path / "nowhere")):
        assert expected in msg


def test_missing_listed_image(tmp_path, w):
    _layout_a(tmp_path / "mini", w)
    (tmp_path / "mini" / "images" / f"{WNIDS['train'][0]}00000002.jpg").unlink()
    with pytest.raises(DataNotFoundError, match=f"images/{WNIDS['train'][0]}00000002.jpg"):
        load_split("miniimagenet", "train", root=tmp_path / "mini", image_size=6, progress=False)

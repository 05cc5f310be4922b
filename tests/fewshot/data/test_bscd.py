"""BSCD-FSL targets: EuroSAT, CropDisease, ISIC 2018, ChestX."""

import numpy as np
import pytest
from PIL import Image

from fewshot.data import DataNotFoundError, load_split


def test_eurosat_and_cropdisease_folders(tmp_path, w):
    w.image_tree(tmp_path / "EuroSAT" / "2750", {"River": 2, "Forest": 3}, size=16)
    w.image_tree(tmp_path / "crop" / "dataset" / "train", {"Apple___scab": 2, "Corn___rust": 2}, size=16)
    euro = load_split("eurosat", "test", root=tmp_path / "EuroSAT", image_size=8, progress=False)
    assert euro.class_names == ["Forest", "River"] and len(euro) == 5
    assert euro.meta["crop"] == "center" and euro.images.shape == (5, 8, 8, 3)
    crop = load_split("cropdisease", "all", root=tmp_path / "crop", image_size=8, progress=False)
    assert crop.name == "cropdisease/test" and crop.num_classes == 2


def test_isic_one_hot(tmp_path, w):
    cols = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    rows = [("ISIC_001", "NV"), ("ISIC_002", "MEL"), ("ISIC_003", "NV"), ("ISIC_004", "VASC")]
    lines = ["image," + ",".join(cols)]
    for name, label in rows:
        lines.append(name + "," + ",".join("1.0" if c == label else "0.0" for c in cols))
        w.save(tmp_path / "ISIC2018_Task3_Training_Input" / f"{name}.jpg", w.pixels(len(lines), 12))
    gt = tmp_path / "ISIC2018_Task3_Training_GroundTruth"
    gt.mkdir()
    (gt / "ISIC2018_Task3_Training_GroundTruth.csv").write_text("\n".join(lines) + "\n")
    data = load_split("isic", "test", root=tmp_path, image_size=12, crop="none", progress=False)
    assert data.class_names == cols
    np.testing.assert_array_equal(data.labels, [0, 1, 1, 6])  # MEL, NV, NV, VASC
    np.testing.assert_array_equal(data.images[0], w.pixels(3, 12))  # ISIC_002 was written third


def test_chestx_single_label_seven_classes(tmp_path, w):
    entries = [("a.png", "Effusion"), ("b.png", "Effusion|Mass"), ("c.png", "No Finding"),
               ("d.png", "Pneumonia"), ("e.png", "Pneumothorax"), ("f.png", "Atelectasis")]
    csv = "Image Index,Finding Labels,Follow-up #,Patient ID\n" + "".join(f"{n},{f},0,1\n" for n, f in entries)
    (tmp_path / "Data_Entry_2017.csv").write_text(csv)
    for i, (name, _) in enumerate(entries):
        where = tmp_path / ("images" if i % 2 else "images_001/images") / name  # NIH archive layout too
        w.save(where, w.pixels(i, 16, channels=1))
    data = load_split("chestx", "test", root=tmp_path, image_size=16, crop="none", progress=False)
    assert data.class_names == ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass",
                                "Nodule", "Pneumothorax"]
    np.testing.assert_array_equal(data.labels, [0, 2, 6])  # f, a, e; multi-label and others dropped
    assert data.images.shape == (3, 16, 16, 3)  # RGB, as BSCD-FSL reads it
    np.testing.assert_array_equal(data.images[1][..., 0], w.pixels(0, 16, channels=1))
    grey = load_split("chestx", "test", root=tmp_path, image_size=16, crop="none", channels=1, progress=False)
    ref = np.asarray(Image.fromarray(w.pixels(4, 16, channels=1)))
    np.testing.assert_array_equal(grey.images[2], ref)


@pytest.mark.parametrize("name,expected", [("eurosat", "2750/<class>"), ("cropdisease", "dataset/train/<class>"),
                                           ("isic", "ISIC2018_Task3_Training_GroundTruth.csv"),
                                           ("chestx", "Data_Entry_2017.csv")])
def test_missing(tmp_path, name, expected):
    with pytest.raises(DataNotFoundError, match=expected.replace(".", "\\.")) as err:
        load_split(name, "test", root=tmp_path)
    assert "usually get" in str(err.value)

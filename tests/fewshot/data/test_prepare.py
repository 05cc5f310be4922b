"""`fewshot data prepare NAME --root PATH`: decode once into the cache, one line per split."""

import json

import numpy as np
import pytest

from fewshot.cli import main
from fewshot.data import load_split


def test_prepare_all_splits_then_load_from_cache(tmp_path, w, capsys):
    w.image_tree(tmp_path / "cub" / "images", {f"{i:03d}.b{i}": 2 for i in range(8)}, size=10)
    rc = main(["data", "prepare", "cub", "--root", str(tmp_path / "cub"), "--image-size", "6",
               "--option", "crop=none", "--workers", "2"])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in out] == ["cub/base", "cub/val", "cub/novel"]
    assert "8 images, 4 classes, 6x6x3 uint8" in out[0]
    manifest = json.loads(next((tmp_path / "fewshot-data" / "cache" / "cub").glob("base-*/manifest.json")).read_text())
    assert manifest["image_size"] == 6 and manifest["split"] == "base" and manifest["crop"] == "none"
    assert manifest["source"] == str((tmp_path / "cub" / "images").resolve())
    # training later finds the same cache: no second decode even if the source is gone
    for p in (tmp_path / "cub" / "images").rglob("*.jpg"):
        p.write_bytes(b"")
    data = load_split("cub", "base", root=tmp_path / "cub", image_size=6, crop="none", progress=False)
    assert data.meta["cache"] == str(next((tmp_path / "fewshot-data" / "cache" / "cub").glob("base-*")))
    assert np.asarray(data.images).any()


def test_prepare_reports_skipped_and_errors(tmp_path, w, capsys):
    w.image_tree(tmp_path / "f", {"a": 2, "b": 2}, size=6)
    (tmp_path / "f" / "b" / "001.jpg").write_bytes(b"not an image")
    assert main(["data", "prepare", "imagefolder", "--root", str(tmp_path / "f")]) == 2
    assert "001.jpg" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="skipped 1 image"):
        assert main(["data", "prepare", "imagefolder", "--root", str(tmp_path / "f"), "--skip-corrupt",
                     "--channels", "1"]) == 0
    assert "3 images, 2 classes, 84x84 uint8, 1 skipped" in capsys.readouterr().out
    assert main(["data", "prepare", "miniimagenet", "--root", str(tmp_path / "none")]) == 2
    assert "mini-imagenet-cache-train.pkl" in capsys.readouterr().err

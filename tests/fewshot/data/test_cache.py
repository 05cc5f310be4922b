"""The pre-decoded cache: round trip, memory mapping, manifest, reuse, rebuild, corrupt files."""

import json

import numpy as np
import pytest
from PIL import Image

from fewshot.data import CorruptImageError, load_split, open_cache
from fewshot.data.cache import CacheSpec, Collected, is_valid
from fewshot.data.cache_write import cached_split
from fewshot.data.images import to_array
from fewshot.data.options import LoadOptions, parse_options


def test_pixels_round_trip_and_memmap(tmp_path, w):
    written = w.image_tree(tmp_path / "folder", {"b": 3, "a": 2}, size=8)
    data = load_split("imagefolder", "all", root=tmp_path / "folder", image_size=8, progress=False)
    assert isinstance(data.images, np.memmap) and data.images.mode == "r"
    assert not data.images.flags.writeable
    assert data.class_names == ["a", "b"]  # sorted folder names
    np.testing.assert_array_equal(data.labels, [0, 0, 1, 1, 1])
    expected = np.stack(written["a"] + written["b"])
    np.testing.assert_array_equal(np.asarray(data.images), expected)
    m = json.loads((tmp_path / "fewshot-data" / "cache").glob("imagefolder/*/manifest.json").__next__().read_text())
    assert m["source"] == str((tmp_path / "folder").resolve()) and m["split"] == "all"
    assert m["image_size"] == 8 and m["channels"] == 3 and m["count"] == 5 and m["n_skipped"] == 0


def test_cache_is_reused_until_rebuild(tmp_path, w):
    w.image_tree(tmp_path / "f", {"a": 2}, size=4)
    first = load_split("imagefolder", "all", root=tmp_path / "f", image_size=4, progress=False)
    new = w.save(tmp_path / "f" / "a" / "000.jpg", np.zeros((4, 4, 3), np.uint8))
    again = load_split("imagefolder", "all", root=tmp_path / "f", image_size=4, progress=False)
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(first.images))  # not re-decoded
    fresh = load_split("imagefolder", "all", root=tmp_path / "f", image_size=4, rebuild=True, progress=False)
    np.testing.assert_array_equal(fresh.images[0], new)
    leftovers = [p.name for p in (tmp_path / "fewshot-data" / "cache" / "imagefolder").iterdir()]
    assert len(leftovers) == 1 and not leftovers[0].startswith(".")  # no temp or old folders


def test_different_size_or_channels_are_different_caches(tmp_path, w):
    w.image_tree(tmp_path / "f", {"a": 2}, size=8)
    rgb = load_split("imagefolder", "all", root=tmp_path / "f", image_size=8, progress=False)
    grey = load_split("imagefolder", "all", root=tmp_path / "f", image_size=4, channels=1, progress=False)
    assert rgb.images.shape == (2, 8, 8, 3) and grey.images.shape == (2, 4, 4)
    ref = np.asarray(Image.fromarray(np.asarray(rgb.images[1])).convert("L").resize((4, 4), Image.BILINEAR))
    np.testing.assert_array_equal(grey.images[1], ref)
    assert rgb.meta["cache"] != grey.meta["cache"]


def test_corrupt_file_is_named_or_skipped(tmp_path, w):
    w.image_tree(tmp_path / "f", {"a": 3, "b": 2}, size=4)
    bad = tmp_path / "f" / "a" / "001.jpg"
    bad.write_bytes(bad.read_bytes()[:30])  # truncated
    with pytest.raises(CorruptImageError, match="001.jpg.*skip_corrupt"):
        load_split("imagefolder", "all", root=tmp_path / "f", image_size=4, progress=False)
    assert not list((tmp_path / "fewshot-data" / "cache" / "imagefolder").iterdir())  # nothing half-written
    with pytest.warns(UserWarning, match="skipped 1 image"):
        data = load_split("imagefolder", "all", root=tmp_path / "f", image_size=4, skip_corrupt=True,
                          progress=False)
    assert len(data) == 4 and data.meta["n_skipped"] == 1
    np.testing.assert_array_equal(data.labels, [0, 0, 1, 1])
    m = json.loads((tmp_path / "fewshot-data" / "cache").glob("imagefolder/*/manifest.json").__next__().read_text())
    assert m["skipped"] == [str(bad.resolve())]


def test_collect_only_runs_on_a_miss(tmp_path):
    calls = []

    def collect():
        calls.append(1)
        return Collected(labels=np.array([0, 1]), class_names=["x", "y"],
                         batches=lambda: iter([np.full((2, 3, 3), 7, np.uint8)]))

    spec = CacheSpec("unit", "s", "src", "array", 3, 1)
    opts = LoadOptions(cache_dir=str(tmp_path / "c"), progress=False)
    a = cached_split(spec, collect, opts)
    b = cached_split(spec, collect, opts)
    assert calls == [1] and is_valid(spec.folder(tmp_path / "c"), spec)
    assert (a.images == 7).all() and b.name == "unit/s"
    np.testing.assert_array_equal(open_cache(spec.folder(tmp_path / "c")).labels, [0, 1])


def test_options_are_checked():
    with pytest.raises(ValueError, match="no option 'chanels'.*Did you mean 'channels'"):
        parse_options("x", {"chanels": 1})
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        parse_options("x", {"channels": 2})
    with pytest.raises(ValueError, match="crop must be one of"):
        parse_options("x", {"crop": "random"})


def test_center_crop_matches_resize_then_crop():
    img = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    out = to_array(img, 20, 3, crop="center")
    big = np.asarray(Image.fromarray(img).resize((23, 23), Image.BILINEAR))  # int(20 * 1.15) = 23
    np.testing.assert_array_equal(out, big[1:21, 1:21])
    grey = to_array(np.asarray(Image.fromarray(img).convert("L")), 20, 3)
    assert grey.shape == (20, 20, 3) and (grey[..., 0] == grey[..., 2]).all()

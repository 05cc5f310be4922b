"""The glyphs benchmark: deterministic build, cache, splits, selection, rendering, PNG sheet.

Builds use a tiny subset (3 alphabets x 5 characters x 4 instances at 16 px) so each test
takes about a second; only the selection test looks at the full benchmark, without drawing it.
"""

import json
import os

import numpy as np
import pytest

from fewshot.data import ImageSplit, default_data_dir
from fewshot.data.glyphs import (
    RenderKnobs,
    build_glyphs,
    discover_fonts,
    folder_name,
    load_glyphs,
    render_instances,
    select_characters,
    show_glyphs,
    split_alphabets,
)
from fewshot.data.glyphs import build as build_mod
from fewshot.data.glyphs import options as options_mod
from fewshot.data.glyphs.render import _bilinear

TINY = dict(image_size=16, alphabets=["Latin", "Greek", "Arrows"], max_chars_per_alphabet=5,
            instances=4, progress=False)
SPLITS = ("background", "validation", "evaluation")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("glyphs")
    build_glyphs(root=root, seed=0, **TINY)
    return root


def _arrays(folder):
    return np.load(folder / "images.npy"), np.load(folder / "labels.npy")


def test_same_seed_gives_identical_arrays_and_other_seed_differs(tmp_path, tiny_root):
    a = build_glyphs(root=tiny_root, seed=0, **TINY)
    b = build_glyphs(root=tmp_path / "b", seed=0, workers=2, **TINY)  # processes: same bytes
    c = build_glyphs(root=tmp_path / "c", seed=1, **TINY)
    (ia, la), (ib, lb), (ic, _) = _arrays(a), _arrays(b), _arrays(c)
    assert ia.tobytes() == ib.tobytes() and np.array_equal(la, lb)
    assert ia.shape == ic.shape and not np.array_equal(ia, ic)
    assert a.name == b.name and a.name.startswith("glyphs-16px-seed0-") and "seed1" in c.name


def test_splits_shapes_dtypes_and_labels(tiny_root):
    whole = load_glyphs("all", root=tiny_root, **TINY)
    assert isinstance(whole, ImageSplit) and whole.name == "glyphs/all"
    assert whole.images.dtype == np.uint8 and whole.images.shape == (15 * 4, 16, 16)
    assert not whole.images.flags.writeable  # read-only memmap
    for split in SPLITS:
        part = load_glyphs(split, root=tiny_root, **TINY)
        n_cls = len(part.class_names)
        assert n_cls >= 1 and part.images.shape == (4 * n_cls, 16, 16)
        assert part.labels.dtype == np.int64
        assert np.array_equal(np.bincount(part.labels), np.full(n_cls, 4))
        assert len(part.meta["alphabets"]) == n_cls and len(part.meta["chars"]) == n_cls
        # every image has ink (255 white on 0 black) and mostly background
        flat = part.images.reshape(len(part.images), -1)
        assert flat.max(axis=1).min() > 100 and np.median(flat) < 10


def test_splits_are_disjoint_by_alphabet_and_cover_all_classes(tiny_root):
    parts = {s: load_glyphs(s, root=tiny_root, **TINY) for s in SPLITS}
    alphabets = [set(p.meta["alphabets"]) for p in parts.values()]
    assert all(alphabets) and sum(map(len, alphabets)) == len(set().union(*alphabets)) == 3
    whole = load_glyphs("all", root=tiny_root, **TINY)
    assert [n for p in parts.values() for n in p.class_names] == whole.class_names
    concat = np.concatenate([p.images for p in parts.values()])
    assert np.array_equal(concat, whole.images)
    alias = load_glyphs("test", root=tiny_root, **TINY)  # train / val / test are aliases
    assert alias.class_names == parts["evaluation"].class_names
    folder = build_glyphs(root=tiny_root, **TINY)
    on_disk = json.loads((folder / "splits.json").read_text())
    assert {s: set(on_disk[s]["alphabets"]) for s in SPLITS} == dict(zip(SPLITS, alphabets))


def test_second_call_reuses_cache_and_force_rebuilds(tmp_path, monkeypatch):
    folder = build_glyphs(root=tmp_path, **TINY)
    mtime = os.stat(folder / "images.npy").st_mtime_ns
    calls = []
    real = build_mod._render_class
    monkeypatch.setattr(build_mod, "_render_class", lambda job: calls.append(1) or real(job))
    assert build_glyphs(root=tmp_path, **TINY) == folder
    load_glyphs("evaluation", root=tmp_path, **TINY)
    assert calls == [] and os.stat(folder / "images.npy").st_mtime_ns == mtime
    before = np.load(folder / "images.npy")
    assert build_glyphs(root=tmp_path, force=True, **TINY) == folder
    assert len(calls) == 15 and np.array_equal(np.load(folder / "images.npy"), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # no temp left


def test_interrupted_build_leaves_nothing_that_looks_valid(tmp_path, monkeypatch):
    def boom(job):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_mod, "_render_class", boom)
    with pytest.raises(KeyboardInterrupt):
        build_glyphs(root=tmp_path, **TINY)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        load_glyphs("background", root=tmp_path, build=False, **TINY)


def test_missing_cache_without_build_says_how_to_build(tmp_path):
    with pytest.raises(FileNotFoundError, match="fewshot data build glyphs"):  # DataNotFoundError
        load_glyphs("background", root=tmp_path / "empty", build=False)


def test_full_benchmark_selection_meets_size_requirements():
    classes = select_characters(discover_fonts())
    alphabets = sorted({c.alphabet for c in classes})
    assert len(classes) >= 1000 and len(alphabets) >= 20
    assert len({c.codepoint for c in classes}) == len(classes)
    assert all(len(c.fonts) >= 2 for c in classes)
    assert not any(c.char.isspace() for c in classes)
    splits = split_alphabets(alphabets)
    sizes = {s: len(v) for s, v in splits.items()}
    assert sizes["evaluation"] == round(0.25 * len(alphabets))
    assert sizes["validation"] == round(0.15 * len(alphabets))
    assert split_alphabets(list(reversed(alphabets))) == {s: sorted(v, key=alphabets[::-1].index)
                                                          for s, v in splits.items()}


def test_case_variants_and_homoglyphs_are_dropped():
    classes = select_characters(discover_fonts(), alphabets=["Latin", "Greek", "Cyrillic"],
                                limits=False)
    chars = {c.char for c in classes}
    assert {"A", "O", "a", "\u03b1"} <= chars  # a/A and alpha differ in shape: kept
    assert "o" not in chars and "\u039f" not in chars and "\u041e" not in chars  # o, Omicron, O


def test_default_folder_name_and_option_errors():
    default = options_mod.resolve(28, 0, 20, None, None, {})
    assert folder_name(default) == "glyphs-28px-seed0"
    harder = options_mod.resolve(28, 0, 20, None, None, {"difficulty": 2.0})
    assert folder_name(harder).startswith("glyphs-28px-seed0-")
    with pytest.raises(ValueError, match="difficulty"):
        build_glyphs(root="/nonexistent", difficult=2.0)
    with pytest.raises(ValueError, match="Latin"):
        build_glyphs(root="/nonexistent", alphabets=["Klingon"])
    with pytest.raises(ValueError, match="evaluation"):
        load_glyphs("testing", root="/nonexistent")
    with pytest.raises(ValueError, match="rotation"):
        build_glyphs(root="/nonexistent", rotation=-1.0)


def test_default_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("FEWSHOT_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_data_dir() == tmp_path / "x" / "fewshot"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert default_data_dir() == tmp_path / "h" / ".cache" / "fewshot"


def test_difficulty_zero_draws_each_font_identically():
    font = [f.path for f in discover_fonts() if ord("K") in f.codepoints][:1]
    rng = np.random.default_rng(0)
    clean = render_instances("K", font, 3, 28, RenderKnobs(difficulty=0.0), rng)
    assert (clean == clean[0]).all() and clean.max() > 200
    noisy = render_instances("K", font, 3, 28, RenderKnobs(difficulty=1.0), rng)
    assert not (noisy == noisy[0]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bilinear_sampler_matches_naive_loop(dtype):
    rng = np.random.default_rng(1)
    stack = rng.random((2, 5, 7)).astype(np.float32)
    idx = rng.integers(0, 2, size=200)
    y, x = rng.uniform(-2, 7, size=200).astype(dtype), rng.uniform(-2, 9, size=200).astype(dtype)

    def pixel(i, r, c):
        return float(stack[i, r, c]) if 0 <= r < 5 and 0 <= c < 7 else 0.0

    naive = []
    for i, yy, xx in zip(idx, y.astype(np.float64), x.astype(np.float64)):
        r, c = int(np.floor(yy)), int(np.floor(xx))
        fy, fx = yy - r, xx - c
        naive.append((1 - fy) * ((1 - fx) * pixel(i, r, c) + fx * pixel(i, r, c + 1))
                     + fy * ((1 - fx) * pixel(i, r + 1, c) + fx * pixel(i, r + 1, c + 1)))
    np.testing.assert_allclose(_bilinear(stack, idx, y, x), naive, atol=1e-5)


def test_image_split_rejects_bad_arrays():
    with pytest.raises(ValueError, match="uint8"):
        ImageSplit(np.zeros((2, 4, 4), np.float32), np.zeros(2), ["a"], "x")
    with pytest.raises(ValueError, match="labels"):
        ImageSplit(np.zeros((2, 4, 4), np.uint8), np.array([0, 3]), ["a", "b"], "x")
    split = ImageSplit(np.zeros((3, 4, 4), np.uint8), np.array([1, 0, 1]), ["a", "b"], "x")
    assert [i.tolist() for i in split.class_indices()] == [[1], [0, 2]]


def test_show_glyphs_writes_a_png(tiny_root, tmp_path):
    build = {k: v for k, v in TINY.items() if k != "instances"}
    out = show_glyphs(tmp_path / "sheet.png", root=tiny_root, chars_per_alphabet=3,
                      instances=2, build_instances=TINY["instances"], **build)
    from PIL import Image

    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as im:
        assert im.size[0] > 100 and im.size[1] > 50

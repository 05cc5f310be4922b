"""Omniglot: background/evaluation, Vinyals split with rotations as classes, alphabet split."""

import numpy as np
import pytest

from fewshot.data import DataNotFoundError, load_split

# background: 7 alphabets with 1..4 characters; evaluation: 2 alphabets. 2 drawers each.
BACKGROUND = {"Alpha": 4, "Beta": 1, "Gamma": 3, "Delta": 1, "Epsilon": 2, "Zeta": 2, "Eta": 4}
EVALUATION = {"Theta": 2, "Iota": 3}


@pytest.fixture
def omni(tmp_path, w):
    written = {}
    for top, alphabets in (("images_background", BACKGROUND), ("images_evaluation", EVALUATION)):
        for a, n_chars in alphabets.items():
            for c in range(1, n_chars + 1):
                for d in range(2):
                    img = (w.pixels(len(written), 10, channels=1) > 127).astype(np.uint8) * 255
                    written[(a, c, d)] = w.save(tmp_path / top / a / f"character{c:02d}" / f"{d:02d}.png", img)
    return tmp_path, written


def test_lake_background_evaluation(omni):
    root, written = omni
    bg = load_split("omniglot", "background", root=root, image_size=10, progress=False)
    ev = load_split("omniglot", "evaluation", root=root, image_size=10, progress=False)
    assert bg.num_classes == sum(BACKGROUND.values()) and len(bg) == 2 * bg.num_classes
    assert ev.num_classes == 5 and bg.images.ndim == 3  # grey
    assert bg.class_names[0] == "Alpha/character01" and bg.meta["alphabets"][-1] == "Zeta"
    np.testing.assert_array_equal(ev.images[3], written[("Iota", 2, 1)])
    inv = load_split("omniglot", "evaluation", root=root, image_size=10, invert=True, progress=False)
    np.testing.assert_array_equal(inv.images[3], 255 - written[("Iota", 2, 1)])


def test_vinyals_rotations_are_classes(omni, w):
    root, written = omni
    lines = ["Gamma/character02/rot000", "Gamma/character02/rot090", "Iota/character01/rot180",
             "Iota/character01/rot270"]
    (root / "splits" / "vinyals").mkdir(parents=True)
    (root / "splits" / "vinyals" / "test.txt").write_text("\n".join(lines) + "\n")
    data = load_split("omniglot", "test", root=root, image_size=10, progress=False)
    assert data.class_names == lines and len(data) == 8
    src_g, src_i = written[("Gamma", 2, 1)], written[("Iota", 1, 0)]
    np.testing.assert_array_equal(data.images[1], src_g)
    np.testing.assert_array_equal(data.images[3], np.rot90(src_g, 1))  # counter-clockwise
    np.testing.assert_array_equal(data.images[4], np.rot90(src_i, 2))
    np.testing.assert_array_equal(data.images[6], np.rot90(src_i, 3))
    np.testing.assert_array_equal(data.labels, [0, 0, 1, 1, 2, 2, 3, 3])


def test_vinyals_without_split_files(omni):
    root, _ = omni
    with pytest.raises(DataNotFoundError, match="(?s)train.txt.*prototypical-networks.*split_dir.*split_scheme=lake"):
        load_split("omniglot", "train", root=root)


def test_alphabet_split_holds_out_five_smallest(omni):
    root, _ = omni
    parts = {s: load_split("omniglot", s, root=root, split_scheme="alphabet", image_size=10,
                           progress=False) for s in ("train", "valid", "test")}
    valid_alphabets = set(parts["valid"].meta["alphabets"])
    # the five with fewest characters; ties (Epsilon/Zeta at 2) broken by name
    assert valid_alphabets == {"Beta", "Delta", "Epsilon", "Zeta", "Gamma"}
    assert set(parts["train"].meta["alphabets"]) == {"Alpha", "Eta"}
    assert set(parts["test"].meta["alphabets"]) == set(EVALUATION)
    assert load_split("omniglot", "val", root=root, split_scheme="alphabet", image_size=10,
                      progress=False).name == "omniglot/valid"


def test_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="images_background/<alphabet>/characterNN"):
        load_split("omniglot", "background", root=tmp_path)

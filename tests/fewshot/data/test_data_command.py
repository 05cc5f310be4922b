"""`fewshot data prepare --help` lists the data sets, `fewshot data show NAME` draws any of them
as stored, and `--channels` defaults to the images' own (issue 18)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tiny_run  # noqa: E402, F401  (registers the "tiny" data set)

from fewshot.cli import main  # noqa: E402
from fewshot.data import DATASETS, load_split  # noqa: E402
from fewshot.data.show import sample_sheet, show_dataset  # noqa: E402
from fewshot.data.sources import own_channels  # noqa: E402


def test_prepare_help_lists_every_registered_data_set(capsys):
    with pytest.raises(SystemExit):
        main(["data", "prepare", "--help"])
    out = capsys.readouterr().out
    listing = out[out.index("data sets (name"):]
    for name in DATASETS.names():
        assert f"  {name}: " in listing, name
    assert "  cub: base, val, novel*; 84 px" in listing
    assert "  tiny: train, val, test*; 16 px" in listing  # plug-in data sets too


def test_show_any_data_set_draws_pixels_as_stored(tmp_path, capsys):
    out = tmp_path / "tiny.png"
    assert main(["data", "show", "tiny", "--split", "train", "--classes", "3", "--per-class", "4",
                 "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.size[0] > 200 and im.size[1] > 150
    # the sheet holds the stored pixels, not inverted ones: a white-on-black set stays dark
    data = load_split("tiny", "train")
    classes, index = sample_sheet(data.images, data.labels, 3, 4, seed=0)
    assert len(classes) == 3 and (index >= 0).all() and (data.labels[index] == classes[:, None]).all()
    dark = load_split("tiny", "train")
    dark.images[:] = 0
    dark.images[:, 4:12, 4:12] = 255  # white squares on black

    from fewshot.data.registry import register_dataset

    light = load_split("tiny", "train")
    light.images[:] = 255 - dark.images  # the same squares, black on white
    register_dataset("tiny_dark")(lambda split="train", **kw: dark)
    register_dataset("tiny_light")(lambda split="train", **kw: light)
    black = {}
    for name in ("tiny_dark", "tiny_light"):
        out = show_dataset(name, tmp_path / f"{name}.png", n_classes=2, per_class=2)
        black[name] = int((np.asarray(Image.open(out).convert("L")) < 10).sum())
    # white squares on black: 3/4 of each image is black, as stored (inverted it would be 1/4)
    assert black["tiny_dark"] > 2.5 * black["tiny_light"]


def test_show_unknown_data_set_lists_the_names(capsys):
    assert main(["data", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown data set 'nope'" in err and "fashion_mnist" in err and "imagefolder" in err


def _folder(root: Path, mode: str) -> Path:
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"k{c}").mkdir(parents=True)
        for i in range(3):
            shape = (20, 20) if mode == "L" else (20, 20, 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / f"k{c}" / f"{i}.png")
    return root


def test_channels_default_to_the_images_own(tmp_path, capsys):
    grey, rgb = _folder(tmp_path / "grey", "L"), _folder(tmp_path / "rgb", "RGB")
    assert own_channels(grey) == 1 and own_channels(rgb) == 3
    cache = str(tmp_path / "cache")
    def load(root, **kw):
        return load_split("imagefolder", "all", root=root, image_size=20, cache_dir=cache, progress=False, **kw)

    assert load(grey).images.ndim == 3 and load(rgb).images.shape[-1] == 3
    assert load(grey, channels=3).images.shape[-1] == 3  # asked for: RGB
    assert main(["data", "prepare", "imagefolder", "--root", str(grey), "--cache-dir", cache]) == 0
    assert "9 images, 3 classes, 84x84 uint8" in capsys.readouterr().out  # grey, as the help says
    with pytest.raises(SystemExit):
        main(["data", "prepare", "--help"])
    assert "an imagefolder of grey images" in " ".join(capsys.readouterr().out.split())

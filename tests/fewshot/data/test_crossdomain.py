"""Cross-domain evaluation: channel conversion, `fewshot eval --data`, `fewshot benchmark`."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from fewshot.cli import main
from fewshot.config import config_from_dict
from fewshot.data import ImageSplit, default_test_split, load_split, match_channels, register_dataset
from fewshot.evaluation.run_eval import target_overrides


@register_dataset("xd_grey")
def _grey(split, root=None, image_size=16, seed=0, **options):
    """8 classes of noisy copies of a random pattern: learnable in a few episodes."""
    rng = np.random.default_rng([seed, len(split)])
    protos = rng.uniform(0, 255, (8, image_size, image_size))
    x = protos.repeat(6, 0) + rng.normal(0, 30, (48, image_size, image_size))
    return ImageSplit(np.clip(x, 0, 255).astype(np.uint8), np.repeat(np.arange(8), 6),
                      [f"g{c}" for c in range(8)], f"xd_grey/{split}")


@pytest.fixture
def run_dir(tmp_path):
    from fewshot.engine.trainer import train

    cfg = config_from_dict({
        "data": {"name": "xd_grey", "image_size": 16, "train_split": "tr", "val_split": "va",
                 "test_split": "te"},
        "model": {"backbone": "conv4", "learner": "protonet", "width": 4},
        "train": {"n_way": 3, "k_shot": 1, "n_query": 2, "episodes": 4, "val_every": 0, "ckpt_every": 2,
                  "progress": False, "threads": 1},
        "eval": {"n_way": 3, "shots": [1], "n_query": 2, "episodes": 5}})
    train(cfg, tmp_path / "run")
    return tmp_path / "run"


def test_match_channels_equals_pil():
    rgb = np.random.default_rng(0).integers(0, 256, (3, 5, 5, 3), dtype=np.uint8)
    split = ImageSplit(rgb, np.arange(3), ["a", "b", "c"], "t")
    grey = match_channels(split, 1)
    for i in range(3):
        np.testing.assert_array_equal(grey.images[i], np.asarray(Image.fromarray(rgb[i]).convert("L")))
    back = match_channels(grey, 3)
    assert back.images.shape == (3, 5, 5, 3) and (back.images[..., 1] == grey.images).all()
    assert match_channels(split, 3) is split


def test_channels_honoured_for_loaders_without_the_option():
    data = load_split("xd_grey", "te", channels=3)  # the loader itself knows nothing of channels
    assert data.images.shape == (48, 16, 16, 3) and data.meta["channels_converted"] == "1->3"


def test_target_overrides_and_default_splits():
    o = target_overrides("fashion_mnist", 1, root="/x", options={"crop": "none"})
    assert o == {"name": "fashion_mnist", "root": "/x", "options": {"crop": "none", "channels": 1},
                 "test_split": "test"}
    assert default_test_split("cub") == "novel" and default_test_split("xd_grey") == "test"
    assert target_overrides("cub", 3, split="val", options={"channels": 1})["options"]["channels"] == 1


def test_eval_on_another_data_set(run_dir, tmp_path, w):
    w.image_tree(tmp_path / "rgbdata", {f"c{i}": 4 for i in range(4)}, size=20)
    rc = main(["eval", str(run_dir), "--data", "imagefolder", "--data-root", str(tmp_path / "rgbdata"),
               "--n-way", "3", "--shots", "1", "--n-query", "2", "--episodes", "5", "--quiet"])
    assert rc == 0
    rows = json.loads((run_dir / "results.json").read_text())
    row = [r for r in rows if r["dataset"] == "imagefolder"][0]
    assert row["split"] == "all" and row["n_way"] == 3 and row["episodes"] == 5
    # shaped for the model: grey (the run's in_channels) at the run's 16 px
    cached = load_split("imagefolder", "all", root=tmp_path / "rgbdata", image_size=16, channels=1,
                        progress=False)
    assert cached.images.shape == (16, 16, 16)


def test_benchmark_tables(run_dir, tmp_path, w):
    w.image_tree(tmp_path / "folder", {f"c{i}": 4 for i in range(4)}, size=12, channels=1)
    grid = tmp_path / "grid.yaml"
    grid.write_text("ways: [2, 3, 9]\nshots: [1, 2]\nn_query: 2\nepisodes: 4\n"
                    f"datasets:\n  - {{name: own}}\n  - {{name: imagefolder, root: {tmp_path / 'folder'}}}\n")
    rc = main(["benchmark", str(run_dir), "--grid", str(grid), "--untrained", "--out", str(tmp_path / "bench"),
               "--quiet"])
    assert rc == 0
    with (tmp_path / "bench" / "table.csv").open() as f:
        rows = list(csv.DictReader(f))
    # 2 models x 2 data sets x 2 ways x 2 shots; 9-way exceeds both data sets and is skipped
    from fewshot.evaluation.run_eval import resolve_checkpoint

    assert len(rows) == 16
    assert {r["model"] for r in rows} == {"untrained", resolve_checkpoint(run_dir)[0].stem}
    assert {r["label"] for r in rows} == {"xd_grey/te", "imagefolder/all"}
    assert {r["dataset"] for r in rows} == {"xd_grey", "imagefolder"}  # the real names, as eval writes them
    recorded = [r for r in json.loads((run_dir / "results.json").read_text()) if r.get("source") == "benchmark"]
    assert len(recorded) == 16 and {r["dataset"] for r in recorded} == {"xd_grey", "imagefolder"}
    assert all((run_dir / r["episodes_csv"]).is_file() for r in recorded)  # per-episode CSVs, like eval
    assert len({r["episodes_csv"] for r in recorded}) == 16
    assert all(0 <= float(r["accuracy"]) <= 100 for r in rows)
    md = (tmp_path / "bench" / "table.md").read_text()
    assert md.startswith(f"Command: `fewshot benchmark {run_dir} --grid {grid} --untrained")
    assert "| 2-way 1-shot | 2-way 2-shot | 3-way 1-shot | 3-way 2-shot |" in md and md.count("\n| ") == 6
    with pytest.raises(ValueError, match="each data set needs a name"):
        from fewshot.commands.benchmark import read_grid

        grid.write_text("datasets: [{root: /x}]\n")
        read_grid(grid)

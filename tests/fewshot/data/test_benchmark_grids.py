"""Every shipped benchmark grid (configs/benchmarks/*.yaml) parses and names known data sets."""

from pathlib import Path

import pytest

from fewshot.commands.benchmark import read_grid
from fewshot.data import available_datasets

GRIDS = sorted((Path(__file__).parents[3] / "configs" / "benchmarks").glob("*.yaml"))


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.stem)
def test_grid_is_valid(path):
    grid = read_grid(path)
    assert grid["ways"] and grid["shots"] and grid["episodes"] >= 600
    names = {t["name"] for t in grid["datasets"]}
    assert names <= set(available_datasets()) | {"own"}


def test_bscd_protocol():
    grid = read_grid(Path(__file__).parents[3] / "configs" / "benchmarks" / "bscd_fsl.yaml")
    assert grid["shots"] == [5, 20, 50] and grid["n_query"] == 15 and grid["episodes"] == 600
    assert [t["name"] for t in grid["datasets"]] == ["cropdisease", "eurosat", "isic", "chestx"]


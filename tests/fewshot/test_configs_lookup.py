"""Shipped configs found by name (``fewshot train miniimagenet_protonet``), ``fewshot configs``,
``fewshot --version``, and the one-line error when the [maml] extra is missing."""

import sys
from pathlib import Path

import pytest
from torch import nn

import fewshot
from fewshot.cli import _resolve_config_names, main, one_paragraph, parse_args
from fewshot.config import ConfigError
from fewshot.configs_lookup import config_dirs, find_config, list_configs

REPO = Path(__file__).resolve().parents[2]


def test_every_shipped_config_is_listed_and_found_by_name():
    names = list_configs()
    on_disk = sorted(p.relative_to(REPO / "configs").with_suffix("").as_posix()
                     for p in (REPO / "configs").rglob("*.yaml"))
    assert names == on_disk and "miniimagenet_protonet" in names and "benchmarks/bscd_fsl" in names
    for name in names:
        assert find_config(name) == REPO / "configs" / f"{name}.yaml"


@pytest.mark.parametrize("spelling", ["glyphs_protonet", "glyphs_protonet.yaml", "configs/glyphs_protonet.yaml"])
def test_name_spellings_outside_the_checkout(spelling, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # configs/ is not below the working directory
    assert find_config(spelling) == REPO / "configs" / "glyphs_protonet.yaml"


def test_an_existing_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("glyphs_protonet.yaml").write_text("train: {}\n")
    assert find_config("glyphs_protonet.yaml") == Path("glyphs_protonet.yaml")


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ConfigError, match=r"did you mean miniimagenet_protonet.*`fewshot configs` lists"):
        find_config("miniimagenet_protonte")


def test_packaged_copy_is_looked_up_first(tmp_path, monkeypatch):
    import fewshot.configs_lookup as lookup

    package = tmp_path / "site" / "fewshot"
    (package / "configs").mkdir(parents=True)
    (package / "configs" / "only_packaged.yaml").write_text("train: {}\n")
    monkeypatch.setattr(lookup, "__file__", str(package / "configs_lookup.py"))
    assert config_dirs() == [package / "configs"]  # no pyproject.toml above: not a checkout
    assert find_config("only_packaged") == package / "configs" / "only_packaged.yaml"
    assert list_configs() == ["only_packaged"]


def test_cli_version_and_listing(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"fewshot {fewshot.__version__}"
    assert main(["configs"]) == 0
    assert capsys.readouterr().out.split() == list_configs()


def test_cli_train_takes_a_name_and_says_when_it_is_unknown(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "miniimagenet_protonte"]) == 2
    err = capsys.readouterr().err
    assert "no shipped config of that name; did you mean miniimagenet_protonet" in err
    args = parse_args(["train", "miniimagenet_protonet", "train.n_way=10"])
    _resolve_config_names(args)
    assert args.config == str(REPO / "configs" / "miniimagenet_protonet.yaml")
    assert args.overrides == ["train.n_way=10"]
    args = parse_args(["train", "--resume", "runs/x", "train.episodes=10"])  # an override, kept
    _resolve_config_names(args)
    assert args.config == "train.episodes=10"
    args = parse_args(["benchmark", "runs/x", "--grid", "bscd_fsl"])
    with pytest.raises(ConfigError, match="did you mean benchmarks/bscd_fsl"):
        _resolve_config_names(args)
    args = parse_args(["benchmark", "runs/x", "--grid", "benchmarks/bscd_fsl"])
    _resolve_config_names(args)
    assert args.grid == str(REPO / "configs" / "benchmarks" / "bscd_fsl.yaml")


@pytest.mark.parametrize("learner", ["maml", "fomaml", "anil", "metasgd"])
def test_maml_family_without_learn2learn_is_a_one_line_error(learner, monkeypatch):
    from fewshot.learners import create_learner

    monkeypatch.setitem(sys.modules, "learn2learn", None)  # import learn2learn -> ImportError
    with pytest.raises(ConfigError) as err:
        create_learner(learner, nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), feature_dim=3, n_way=2)
    message = one_paragraph(err.value)
    assert "\n" not in message and "pip install 'fewshot[maml]'" in message

import pytest

from fewshot.config import ConfigError, load_config, parse_override, valid_keys


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_and_overrides(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  n_way: 30\n"), ["train.k_shot=5", "eval.shots=[1,5,10]",
                                                               "train.lr=3e-4", "data.root=/tmp/x"])
    assert cfg.train.n_way == 30 and cfg.train.k_shot == 5
    assert cfg.eval.shots == [1, 5, 10]
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.data.root == "/tmp/x"


def test_unknown_key_lists_valid_keys_and_suggests(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "train:\n  n_wya: 30\n"))
    msg = str(err.value)
    assert "train.n_wya" in msg and "train.n_way" in msg and "Did you mean" in msg
    assert "eval.episodes" in msg  # the list of valid keys


def test_unknown_section_and_override():
    with pytest.raises(ConfigError, match="unknown config key 'trian'"):
        load_config(None, ["trian.n_way=5"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.n_way")


@pytest.mark.parametrize("override, needle", [
    ("train.n_way=five", "expects an integer"),
    ("train.n_way=2.5", "expects an integer"),
    ("train.lr=fast", "expects a number"),
    ("train.progress=maybe", "true or false"),
    ("train.n_way=0", ">= 1"),
    ("train.n_way=1", ">= 2"),
    ("train.lr=-1", "> 0"),
    ("train.lr_gamma=2", "(0, 1]"),
    ("eval.shots=[0]", "eval.shots"),
    ("data=3", "expects a mapping"),
])
def test_mistyped_values_are_rejected(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert needle in str(err.value)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [unclosed\n"))
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path)


def test_valid_keys_are_dotted():
    keys = valid_keys()
    assert "train.n_way" in keys and "model.backbone" in keys and "data" not in keys


def test_option_overrides_merge_into_file_options(tmp_path):
    path = write(tmp_path, "model:\n  options:\n    losses: {ce: 1.0, icnn: 1.0}\n"
                           "    interp: {kind: mlti, alpha: 2.0}\n")
    cfg = load_config(path, ["model.options.icnn_k=3", "model.options.interp.alpha=0.5"])
    assert cfg.model.options == {"losses": {"ce": 1.0, "icnn": 1.0}, "icnn_k": 3,
                                 "interp": {"kind": "mlti", "alpha": 0.5}}

"""Error messages name options that exist, too-small classes by their names, and a failed start
leaves no empty run folder behind (issue 18)."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

from fewshot.cli import build_parser, main  # noqa: E402
from fewshot.config import load_config  # noqa: E402
from fewshot.data import CorruptImageError, load_split  # noqa: E402
from fewshot.data.base import ImageSplit  # noqa: E402
from fewshot.runs.episodes import build_sampler  # noqa: E402


def _train(tmp_path, capsys, *overrides):
    argv = ["train", str(tiny_run.write_config(tmp_path)), f"run.out_dir={tmp_path / 'runs'}", "run.name=r",
            "--no-eval", "train.episodes=4", "train.val_every=0", *overrides]
    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("override", ["model.backbone=nope", "train.n_way=50", "model.options.dropblock=0.1"])
def test_failed_start_leaves_no_run_folder(tmp_path, capsys, override):
    code, err = _train(tmp_path, capsys, override)
    assert code == 2 and err.startswith("fewshot: error: ")
    assert not (tmp_path / "runs").exists()  # neither the run folder nor the out_dir it created


def test_failed_start_keeps_a_folder_that_held_something(tmp_path, capsys):
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "notes.txt").write_text("mine")
    code, _ = _train(tmp_path, capsys, "model.backbone=nope")
    assert code == 2 and (tmp_path / "runs" / "r" / "notes.txt").read_text() == "mine"


def test_a_run_that_starts_keeps_its_folder(tmp_path, capsys):
    code, _ = _train(tmp_path, capsys)
    assert code == 0 and (tmp_path / "runs" / "r" / "checkpoints" / "last.pt").is_file()


def test_learner_options_error_names_the_learners_options(tmp_path, capsys):
    code, err = _train(tmp_path, capsys, "model.options.dropblock=0.1")
    assert code == 2
    assert "loss options" not in err
    assert "model.options.dropblock" in err and "protonet" in err and "margin" in err
    assert "model.backbone_options" in err
    code, err = _train(tmp_path, capsys, "model.options.margn=0.1")
    assert code == 2 and "Did you mean model.options.margin?" in err
    # the options it names are accepted
    code, _ = _train(tmp_path, capsys, "model.options.margin=0.5", "model.options.losses.triplet=1")
    assert code == 0


def _birds(sizes) -> ImageSplit:
    labels = np.repeat(np.arange(len(sizes)), sizes)
    names = [f"bird_{c}" for c in range(len(sizes))]
    return ImageSplit(np.zeros((len(labels), 4, 4), np.uint8), labels, names, "birds/test")


def test_small_classes_are_named_and_the_suggested_key_exists(tmp_path):
    cfg = load_config(tiny_run.write_config(tmp_path))
    split = _birds([10, 2, 10, 10, 1])
    with pytest.raises(ValueError) as info:
        build_sampler(cfg.eval, split, 5, 0, k_shot=1)
    msg = str(info.value)
    assert "class 'bird_1' has 2 samples" in msg and "'bird_4'" in msg and "class 1 " not in msg
    assert "set eval.drop_small_classes=true" in msg and "drop_small_classes=True" not in msg
    cfg = load_config(tiny_run.write_config(tmp_path), ["eval.drop_small_classes=true"])  # the key exists
    with pytest.warns(UserWarning, match="dropped 2 of 5 classes.*'bird_1', 'bird_4'"):
        sampler = build_sampler(cfg.eval, split, 20, 0, k_shot=1)
    drawn = {int(split.labels[i]) for episode in sampler for i in episode}
    assert drawn == {0, 2, 3}


def test_drop_small_classes_in_training(tmp_path, capsys):
    def small(split, **kw):
        data = tiny_run.load_tiny(split, **kw)
        keep = ~((data.labels == 7) & (np.arange(len(data.labels)) % 10 > 1))  # class c7: 2 samples
        return ImageSplit(data.images[keep], data.labels[keep], data.class_names, data.name)

    from fewshot.data.registry import register_dataset

    register_dataset("tiny_small")(small)
    code, err = _train(tmp_path, capsys, "data.name=tiny_small")
    assert code == 2 and "class 'c7' has 2 samples" in err and "train.drop_small_classes=true" in err
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, err = _train(tmp_path, capsys, "data.name=tiny_small", "train.drop_small_classes=true")
    assert code == 0, err
    assert any("dropped 1 of 8 classes" in str(w.message) and "'c7'" in str(w.message) for w in caught)


def test_corrupt_image_message_names_options_that_exist(tmp_path):
    root = tiny_run.write_image_folder(tmp_path / "data", splits=(("train", 3),), per_class=3)
    bad = root / "train" / "c1" / "004.png"
    bad.write_bytes(b"these are not pixels")
    with pytest.raises(CorruptImageError) as info:
        load_split("imagefolder", "train", root=root, image_size=8, cache_dir=str(tmp_path / "cache"),
                   progress=False)
    msg = str(info.value)
    assert str(bad) in msg
    parser = build_parser()
    # every spelling the message suggests is one the commands accept
    assert "--data-option skip_corrupt=true" in msg
    assert parser.parse_args(["eval", "RUN", "--data-option", "skip_corrupt=true"]).data_option
    assert "--data-option imagefolder.skip_corrupt=true" in msg
    assert parser.parse_args(["benchmark", "RUN", "--data-option", "imagefolder.skip_corrupt=true"]).data_option
    assert "`fewshot data prepare --skip-corrupt`" in msg
    assert parser.parse_args(["data", "prepare", "imagefolder", "--skip-corrupt"]).skip_corrupt
    assert "data.options.skip_corrupt=true" in msg
    assert load_config(tiny_run.write_config(tmp_path), ["data.options.skip_corrupt=true"]).data.options
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "RUN", "--skip-corrupt"])  # the old message's flag: not an eval option
    data = load_split("imagefolder", "train", root=root, image_size=8, cache_dir=str(tmp_path / "cache"),
                      progress=False, skip_corrupt=True)
    assert len(data) == 8

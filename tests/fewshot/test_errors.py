"""Every bad input named in the issue ends in a one-paragraph message and exit status 2."""

import errno
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

from fewshot.cli import main  # noqa: E402
from fewshot.learners import ProtoNet  # noqa: E402
from fewshot.runs import checkpoint as checkpoint_module  # noqa: E402
from fewshot.runs.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402


@pytest.fixture
def fail(tmp_path, capsys):
    """fail(*overrides) -> the error message of a `fewshot train` on the tiny config that must fail."""

    def run(*args, command=None):
        argv = command or ["train", str(tiny_run.write_config(tmp_path)), f"run.out_dir={tmp_path / 'runs'}",
                           "--no-eval", "train.episodes=10", *args]
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("fewshot: error: "), err
        assert "Traceback" not in err and "\n\n" not in err.strip(), err
        return err

    return run


def _ok(tmp_path, *args) -> Path:
    argv = ["train", str(tiny_run.write_config(tmp_path)), f"run.out_dir={tmp_path / 'runs'}", "run.name=ok",
            "--no-eval", *args]
    assert main(argv) == 0
    return tmp_path / "runs" / "ok"


# ---------------------------------------------------------------- config keys, types, ranges
def test_mistyped_key_gets_a_suggestion(fail):
    err = fail("train.n_wya=5")
    assert "unknown config key 'train.n_wya'" in err and "Did you mean 'train.n_way'" in err


def test_mistyped_key_in_the_yaml_file(fail, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_run.TINY_CONFIG.replace("lr_gamma", "lr_gama"))
    err = fail(command=["train", str(bad)])
    assert "'train.lr_gama'" in err and "'train.lr_gamma'" in err


@pytest.mark.parametrize("override, needle", [
    ("train.lr=fast", "'train.lr' expects a number"),
    ("train.n_way=2.5", "'train.n_way' expects an integer"),
    ("train.deterministic=maybe", "true or false"),
    ("train.n_way=1", ">= 2"),
    ("train.episodes=0", "'train.episodes' must be >= 1"),
    ("train.log_every=0", "'train.log_every' must be >= 1"),
    ("train.keep_last=-1", "'train.keep_last' must be >= 0"),
    ("train.lr_gamma=3", "(0, 1]"),
])
def test_wrong_types_and_ranges(fail, override, needle):
    assert needle in fail(override)


def test_unusable_device_and_image_size(fail):
    if not torch.cuda.is_available():
        assert "no CUDA device is available" in fail("train.device=cuda")
    assert "is not a device name" in fail("train.device=toaster")
    err = fail("data.image_size=4")
    assert "backbone 'conv4' cannot process" in err and "data.image_size" in err


# ---------------------------------------------------------------- episodes the data cannot give
def test_more_ways_than_classes(fail):
    err = fail("train.n_way=9")
    assert "9-way" in err and "tiny/train (8 classes)" in err and "train.n_way" in err


def test_more_validation_ways_than_classes_fails_before_training(fail, tmp_path):
    err = fail("eval.n_way=6", "train.val_every=5", "run.name=v")
    assert "tiny/val (5 classes)" in err and "eval.n_way" in err
    assert not (tmp_path / "runs" / "v" / "checkpoints" / "last.pt").exists()


def test_classes_with_too_few_samples(fail):
    err = fail("train.k_shot=6", "train.n_query=5")
    assert "has 10 samples but an episode needs" in err and "train.k_shot" in err


# ---------------------------------------------------------------- data directories and image files
def _folder_args(tmp_path, root):
    return tiny_run.image_folder_overrides(root, tmp_path / "cache") + ["train.val_every=0"]


def test_missing_and_empty_data_directories(fail, tmp_path):
    missing = tmp_path / "nowhere"
    err = fail(*_folder_args(tmp_path, missing))
    assert "not found under" in err and str(missing) in err and "<class>/<image>" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    err = fail(*_folder_args(tmp_path, empty))
    assert "not found under" in err and str(empty) in err


@pytest.mark.parametrize("damage", ["truncate", "not_an_image"])
def test_corrupt_image_is_named_and_can_be_skipped(fail, tmp_path, damage, capsys):
    root = tiny_run.write_image_folder(tmp_path / "data", splits=(("train", 5),), per_class=6)
    bad = root / "train" / "c2" / "014.png"
    bad.write_bytes(bad.read_bytes()[:50] if damage == "truncate" else b"these are not pixels")
    err = fail(*_folder_args(tmp_path, root))
    assert str(bad) in err and "skip_corrupt" in err
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\)"):
        _ok(tmp_path, *_folder_args(tmp_path, root), "train.episodes=3",
            f"data.options={{cache_dir: '{tmp_path / 'cache'}', progress: false, channels: 1, skip_corrupt: true}}")


# ---------------------------------------------------------------- failures during training
def test_nan_loss_stops_names_the_episode_and_keeps_the_last_good_checkpoint(fail, tmp_path, monkeypatch):
    original, calls = ProtoNet.episode_loss, []

    def poisoned(self, *args):
        out = original(self, *args)
        calls.append(1)
        return {**out, "loss": out["loss"] * float("nan")} if len(calls) == 7 else out

    monkeypatch.setattr(ProtoNet, "episode_loss", poisoned)
    err = fail("train.ckpt_every=5", "train.val_every=0", "run.name=nan")
    assert "the loss became nan at episode 7" in err and "episode 5" in err and "train.lr" in err
    state = load_checkpoint(tmp_path / "runs" / "nan" / "checkpoints" / "last.pt")
    assert state["episode"] == 5
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_disk_full_while_writing_a_checkpoint(fail, tmp_path, monkeypatch):
    real_save, calls = torch.save, []

    def save(obj, f):
        calls.append(1)
        if len(calls) >= 2:  # the checkpoint of episode 5 fits, the one of episode 10 does not
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f)

    monkeypatch.setattr(checkpoint_module.torch, "save", save)
    err = fail("train.ckpt_every=5", "train.val_every=0", "train.keep_last=1", "run.name=full")
    ckpt = tmp_path / "runs" / "full" / "checkpoints"
    assert "no space left on the device while writing" in err and str(ckpt) in err and "--resume" in err
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert load_checkpoint(ckpt / "last.pt")["episode"] == 5
    assert not list(ckpt.glob(".*.tmp"))


def test_other_os_errors_keep_their_traceback(tmp_path, monkeypatch):
    def save(obj, f):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(checkpoint_module.torch, "save", save)
    with pytest.raises(OSError, match="Input/output error"):
        main(["train", str(tiny_run.write_config(tmp_path)), f"run.out_dir={tmp_path}", "--no-eval",
              "train.episodes=2", "train.val_every=0"])


# ---------------------------------------------------------------- checkpoints
class _Payload:
    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_checkpoint_with_pickled_objects_is_refused_without_running_them(fail, tmp_path):
    payload = _Payload()
    payload.marker = str(tmp_path / "pwned")
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "extra": payload}, evil)
    err = fail(command=["eval", str(evil), "--quiet"])
    assert "refusing to load" in err and "pickled Python objects" in err
    assert not (tmp_path / "pwned").exists()


def test_truncated_checkpoint(fail, tmp_path):
    good = save_checkpoint({"model": {"w": torch.ones(10_000)}, "config": {}}, tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:5000])
    err = fail(command=["eval", str(cut), "--quiet"])
    assert "cannot read checkpoint" in err and str(cut) in err


def test_checkpoint_of_another_backbone_or_schedule_says_what_it_is(fail, tmp_path):
    run = _ok(tmp_path, "train.episodes=5", "train.val_every=0")
    config = (run / "config.yaml").read_text()
    err = fail(command=["train", "--resume", str(run), "model.backbone=resnet12", "--no-eval"])
    assert "learner 'protonet' with backbone 'conv4'" in err and "model.backbone='conv4'" in err
    err = fail(command=["train", "--resume", str(run), "model.learner=matchingnet", "--no-eval"])
    assert "model.learner='protonet'" in err
    err = fail(command=["train", "--resume", str(run), "train.n_way=3", "--no-eval"])
    assert "train.n_way=4 (now 3)" in err and "may change only" in err and "train.lr" in err
    assert (run / "config.yaml").read_text() == config  # a refused resume changes nothing
    # A checkpoint whose weights do not fit the model its config describes (e.g. edited by hand).
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    state["config"]["model"]["width"] = 16
    save_checkpoint(state, tmp_path / "edited.pt")
    err = fail(command=["eval", str(tmp_path / "edited.pt"), "--quiet"])
    assert "'protonet'" in err and "'conv4'" in err


def test_resume_needs_a_run_folder_and_no_second_config(fail, tmp_path):
    err = fail(command=["train", "--resume", str(tmp_path), "--no-eval"])
    assert "has no config.yaml" in err
    run = _ok(tmp_path, "train.episodes=2", "train.val_every=0")
    err = fail(command=["train", "--resume", str(run), "other.yaml"])
    assert "drop 'other.yaml'" in err


def test_bad_plugin_module(fail, monkeypatch):
    monkeypatch.setenv("FEWSHOT_PLUGINS", "no_such_module_here")
    assert "FEWSHOT_PLUGINS names module 'no_such_module_here'" in fail()


def test_overrides_may_follow_options(tmp_path):
    run = _ok(tmp_path, "train.episodes=3", "train.val_every=0")  # overrides after --no-eval
    assert json.loads((run / "run.json").read_text())["commit"]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["episode"] == 3

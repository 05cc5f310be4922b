"""Fault injection: a full disk midway through each kind of write, a read-only run folder, bad
output paths and two writers at once. Each ends with a one-paragraph message naming the path,
exit status 2, and every file written before the fault intact.

A full disk is a patched write that raises ENOSPC after some bytes (the tests need no tmpfs and
no root); the read-only folder is a patched ``mkstemp`` raising EROFS there (chmod does not stop
root). The concurrent-writers test starts real processes and is behind the ``slow`` marker.
"""

import errno
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

import fewshot.atomic as atomic  # noqa: E402
from fewshot.cli import main  # noqa: E402
from fewshot.runs import records  # noqa: E402
from fewshot.runs.checkpoint import load_checkpoint  # noqa: E402
from fewshot.runs.lock import is_locked  # noqa: E402
from fewshot.runs.records import read_metrics  # noqa: E402


class FullAfter:
    """A binary file whose writes fail with ENOSPC once ``budget`` bytes were written (the first
    failing write is written in part, as a real full disk does)."""

    def __init__(self, f, budget: int):
        self._f, self._left = f, budget

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self._left:
            self._f.write(data[:self._left])
            self._left = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def full_disk_for(monkeypatch, match, budget=300, after=0):
    """Atomic writes to files whose name contains ``match`` fail midway, from the ``after``+1-th on."""
    real_mkstemp, real_fdopen = atomic.tempfile.mkstemp, atomic.os.fdopen
    pending, seen = {}, {"n": 0}

    def mkstemp(*args, prefix="", **kw):
        fd, name = real_mkstemp(*args, prefix=prefix, **kw)
        if match in prefix:
            seen["n"] += 1
            if seen["n"] > after:
                pending[fd] = name
        return fd, name

    def fdopen(fd, *args, **kw):
        f = real_fdopen(fd, *args, **kw)
        return FullAfter(f, budget) if pending.pop(fd, None) else f

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(atomic.os, "fdopen", fdopen)


def snapshot(folder: Path) -> dict:
    """Content hash of every file under ``folder`` (what must stay intact)."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def error_of(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fewshot: error: ") and "Traceback" not in err and "\n\n" not in err.strip(), err
    return err


def train_argv(tmp_path, *extra):
    return ["train", str(tiny_run.write_config(tmp_path)), f"run.out_dir={tmp_path / 'runs'}", "run.name=f",
            "train.episodes=30", "train.val_every=0", "train.keep_last=0", "--no-eval", *extra]


# ---------------------------------------------------------------- a full disk midway through a write
def test_full_disk_during_a_checkpoint_write(tmp_path, capsys, monkeypatch):
    full_disk_for(monkeypatch, "last.pt", budget=2000, after=1)  # the 2nd last.pt write fails midway
    err = error_of(capsys, train_argv(tmp_path))
    run = tmp_path / "runs" / "f"
    assert "no space left on the device while writing" in err and str(run / "checkpoints" / "last.pt") in err
    state = load_checkpoint(run / "checkpoints" / "last.pt")  # the earlier checkpoint, complete
    assert state["episode"] == 10
    assert not list((run / "checkpoints").glob(".*.tmp"))  # no half-written temporary left
    assert [r["episode"] for r in read_metrics(run) if r["kind"] == "train"][-1] == 20  # rows up to the fault
    monkeypatch.undo()  # space freed: the run continues from the kept checkpoint
    assert main(["train", "--resume", str(run), "--no-eval"]) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["episode"] == 30


def test_full_disk_while_writing_results(tmp_path, capsys, monkeypatch):
    assert main(train_argv(tmp_path, "train.episodes=4", "eval.episodes=2", "eval.shots=[1]")) == 0
    run = tmp_path / "runs" / "f"
    for seed in ("1", "3"):
        assert main(["eval", str(run), "--quiet", "--episodes", "2", "--seed", seed]) == 0
    before = snapshot(run)
    full_disk_for(monkeypatch, "results.json", budget=100)
    err = error_of(capsys, ["eval", str(run), "--quiet", "--episodes", "2", "--seed", "2"])
    assert "no space left" in err and str(run / "results.json") in err
    after = snapshot(run)
    assert after["results.json"] == before["results.json"]  # every earlier result kept
    assert all(after[k] == v for k, v in before.items())
    assert len(json.loads((run / "results.json").read_text())) == 2


def test_full_disk_while_appending_metrics(tmp_path, capsys, monkeypatch):
    real_init = records.MetricsLog.__init__

    def init(self, *args, **kw):
        real_init(self, *args, **kw)
        self._file = FullAfter(self._file, 600)

    monkeypatch.setattr(records.MetricsLog, "__init__", init)
    err = error_of(capsys, train_argv(tmp_path))
    run = tmp_path / "runs" / "f"
    assert "no space left" in err and str(run / "metrics.jsonl") in err
    rows = read_metrics(run)  # complete rows before the fault; a torn last line is skipped
    assert rows and all(r["kind"] == "train" for r in rows)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["episode"] <= rows[-1]["episode"] + 5
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--no-eval"]) == 0
    episodes = [r["episode"] for r in read_metrics(run) if r["kind"] == "train"]
    assert episodes == list(range(5, 31, 5))  # the resumed log replays cleanly, no duplicates


def test_full_disk_while_building_a_data_cache(tmp_path, capsys, monkeypatch):
    root = tiny_run.write_image_folder(tmp_path / "images", per_class=4)
    source = snapshot(root)

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "posix_fallocate", no_space)
    err = error_of(capsys, train_argv(tmp_path, *tiny_run.image_folder_overrides(root, tmp_path / "cache")))
    assert "no space left" in err and "images.npy" in err
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []  # no half-built cache to be mistaken for a complete one
    assert snapshot(root) == source


def test_allocation_falls_back_to_writing_zeros_past_the_header(tmp_path, monkeypatch):
    import numpy as np

    def unsupported(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(atomic.os, "posix_fallocate", unsupported)
    a = np.lib.format.open_memmap(tmp_path / "a.npy", mode="w+", dtype=np.uint8, shape=(3, 5))
    atomic.allocate_file(tmp_path / "a.npy", a.offset)
    a[:] = 7
    a.flush()
    assert (np.load(tmp_path / "a.npy") == 7).all()  # the header survived the zeros


# ---------------------------------------------------------------- folders that cannot be written
def test_read_only_run_folder_on_resume(tmp_path, capsys, monkeypatch):
    assert main(train_argv(tmp_path, "train.episodes=10")) == 0
    run = tmp_path / "runs" / "f"
    before = snapshot(run)
    real = atomic.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kw):
        if Path(dir).resolve() == run.resolve():
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    err = error_of(capsys, ["train", "--resume", str(run), "train.episodes=20", "--no-eval"])
    assert "read-only" in err.lower() and str(run) in err
    after = snapshot(run)
    assert {k: v for k, v in after.items() if k != ".fewshot.lock"} == \
        {k: v for k, v in before.items() if k != ".fewshot.lock"}


def test_out_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "runs").write_text("not a folder")
    err = error_of(capsys, train_argv(tmp_path))
    assert str(tmp_path / "runs") in err and "a file stands where a folder is needed" in err
    assert (tmp_path / "runs").read_text() == "not a folder"


def test_a_300_character_run_name(tmp_path, capsys):
    err = error_of(capsys, [*train_argv(tmp_path), "run.name=" + "r" * 300])
    assert "r" * 300 in err and "shorter run.name" in err


# ---------------------------------------------------------------- two writers at once
@pytest.mark.slow
def test_two_concurrent_writers(tmp_path):
    config = tiny_run.write_config(tmp_path)
    argv = tiny_run.fewshot_command("train", str(config), f"run.out_dir={tmp_path / 'runs'}", "run.name=same",
                                    "train.episodes=100000", "train.val_every=0", "train.ckpt_every=50",
                                    "--no-eval")
    env = tiny_run.subprocess_env()
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "runs" / "same"
    try:
        while not ((run / "checkpoints" / "last.pt").exists() and is_locked(run)):
            assert first.poll() is None, first.stderr.read()
            time.sleep(0.2)
        second = subprocess.run(argv, env=env, capture_output=True, text=True)
        resume = subprocess.run(tiny_run.fewshot_command("train", "--resume", str(run), "--no-eval"),
                                env=env, capture_output=True, text=True)
        evaluation = subprocess.run(tiny_run.fewshot_command("eval", str(run), "--quiet"), env=env,
                                    capture_output=True, text=True)
    finally:
        first.terminate()
        first.wait()
    for other in (second, resume, evaluation):
        assert other.returncode == 2, other.stderr
        assert "is being written by pid" in other.stderr and "Traceback" not in other.stderr
    episodes = [r["episode"] for r in read_metrics(run) if r["kind"] == "train"]
    assert episodes == sorted(set(episodes))  # one writer's rows only, never interleaved
    assert not (run / "results.json").exists()
    assert not is_locked(run) and os.path.exists(run / ".fewshot.lock")  # released when the writer ended


# ---------------------------------------------------------------- damaged checkpoints
@pytest.fixture
def small_run(tmp_path):
    assert main(train_argv(tmp_path, "train.episodes=10")) == 0
    return tmp_path / "runs" / "f"


def test_a_corrupt_checkpoint_is_called_corrupt_not_dangerous(small_run, capsys):
    last = small_run / "checkpoints" / "last.pt"
    data = bytearray(last.read_bytes())
    for i in range(2000, min(len(data), 40000), 7):
        data[i] ^= 0xFF
    last.write_bytes(bytes(data))
    err = error_of(capsys, ["eval", str(last), "--quiet"])
    assert "truncated or corrupt" in err and str(last) in err
    assert "arbitrary code" not in err and "weights_only" not in err  # no hint to load it unsafely


@pytest.mark.parametrize("damage, needle", [
    (lambda s: s.update(model=list(s["model"].values())), "'model' entry is a list"),
    (lambda s: s.pop("norm"), "'norm' entry is missing"),
    (lambda s: s.pop("rng"), "'rng' entry is missing"),
])
def test_incomplete_checkpoints_are_refused_before_anything_is_written(small_run, capsys, damage, needle):
    import torch

    path = small_run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    damage(state)
    torch.save(state, path)
    before = snapshot(small_run)
    err = error_of(capsys, ["train", "--resume", str(small_run), "train.episodes=20", "--no-eval"])
    assert needle in err and str(path) in err
    after = snapshot(small_run)
    for name in ("metrics.jsonl", "run.json", "config.yaml"):
        assert after[name] == before[name]  # metrics.jsonl and run.json are not rewritten first


# ---------------------------------------------------------------- bad inputs found late, or misread
def test_impossible_eval_settings_fail_before_training(tmp_path, capsys):
    argv = [a for a in train_argv(tmp_path) if a != "--no-eval"]
    err = error_of(capsys, [*argv, "eval.n_way=6"])
    assert "eval.n_way" in err and "tiny/test (5 classes)" in err
    assert not (tmp_path / "runs" / "f" / "checkpoints").exists()  # refused before any training


def test_a_benchmark_grid_that_is_not_yaml_and_an_empty_features_file(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text("ways: [5\nshots: {")
    err = error_of(capsys, ["benchmark", "missing_run", "--grid", str(grid)])
    assert str(grid) in err and "not valid YAML" in err
    empty = tmp_path / "f.npz"
    empty.write_bytes(b"")
    err = error_of(capsys, ["benchmark", str(empty), "--out", str(tmp_path / "b")])
    assert str(empty) in err and "truncated" in err


def test_a_split_csv_row_with_one_column_and_interpolation_with_pretraining(tmp_path, capsys):
    from fewshot.data.miniimagenet import read_csv

    path = tmp_path / "train.csv"
    path.write_text("filename,label\nn01_1.jpg,n01\nn01_2.jpg\n")
    with pytest.raises(ValueError, match=r"train.csv' line 3 should be 'filename,label', got 'n01_2.jpg'"):
        read_csv(path)
    err = error_of(capsys, [*train_argv(tmp_path), "model.learner=pretrain",
                            "model.options.interpolation={kind: mlti}"])
    assert "model.options.interpolation" in err and "'pretrain' trains on batches" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_glyph_build_workers_die_with_their_parent():
    code = ("import ctypes, ctypes.util\n"
            "from fewshot.data.glyphs.build import _die_with_parent\n"
            "_die_with_parent()\n"
            "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
            "sig = ctypes.c_int()\n"
            "libc.prctl(2, ctypes.byref(sig))  # PR_GET_PDEATHSIG\n"
            "print(sig.value)\n")
    out = subprocess.run([sys.executable, "-c", code], env=tiny_run.subprocess_env(), capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "15"  # SIGTERM when the building process dies, even by SIGKILL


@pytest.mark.parametrize("class_dict, needle", [
    ({"n01": [0, 1], "n02": [2, 9]}, "index 9 outside the 4 images"),
    ({"n01": [0, 1], "n02": [[2], [3, 0]]}, "list of integer image indices"),
    ({"n01": [0, 1], "n02": [-1, 2]}, "index -1 outside"),
    ({"n01": [0, 1], "n02": ["a", "b"]}, "list of integer image indices"),
])
def test_a_miniimagenet_pickle_with_bad_or_ragged_indices(tmp_path, class_dict, needle):
    import pickle

    import numpy as np

    from fewshot.data.miniimagenet import _collect_pickle

    path = tmp_path / "mini-imagenet-cache-train.pkl"
    path.write_bytes(pickle.dumps({"image_data": np.zeros((4, 8, 8, 3), np.uint8), "class_dict": class_dict}))
    with pytest.raises(ValueError, match=needle):
        _collect_pickle(path)

"""Runs that survive: SIGKILL at a random moment, resume, and end exactly where an uninterrupted
run ends (weights, optimiser, best checkpoint, metrics log), on CPU in deterministic mode."""

import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

from fewshot.atomic import remove_stale_temporaries  # noqa: E402
from fewshot.cli import main  # noqa: E402
from fewshot.config import load_config  # noqa: E402
from fewshot.engine.trainer import train  # noqa: E402
from fewshot.learners import ProtoNet  # noqa: E402
from fewshot.runs.checkpoint import load_checkpoint  # noqa: E402
from fewshot.runs.records import read_metrics  # noqa: E402
from fewshot.runs.rng import capture_rng, restore_rng  # noqa: E402

SHORT = ["train.episodes=40", "train.val_every=20", "train.lr_step=15"]


def _config(tmp_path, *overrides):
    return load_config(tiny_run.write_config(tmp_path), [f"run.out_dir={tmp_path}", *overrides])


def _comparable(rows):
    """Metrics rows without the timing column and the resume markers."""
    return [{k: v for k, v in r.items() if k != "episodes_per_s"} for r in rows if r["kind"] != "resume"]


def assert_same_run(a: Path, b: Path) -> None:
    for name in ("last.pt", "best.pt"):
        sa, sb = load_checkpoint(a / "checkpoints" / name), load_checkpoint(b / "checkpoints" / name)
        assert sa["episode"] == sb["episode"] and sa["best_val"] == sb["best_val"]
        assert sa["model"].keys() == sb["model"].keys()
        for k in sa["model"]:
            torch.testing.assert_close(sa["model"][k], sb["model"][k], rtol=0, atol=0, msg=f"{name}: {k}")
        if name == "best.pt":  # what evaluation needs only: no optimiser state (issue 21)
            assert "optimizer" not in sa and "optimizer" not in sb
            continue
        assert sa["optimizer"]["state"].keys() == sb["optimizer"]["state"].keys()
        for param, va in sa["optimizer"]["state"].items():
            for key in va:
                torch.testing.assert_close(va[key], sb["optimizer"]["state"][param][key], rtol=0, atol=0)
    ra, rb = _comparable(read_metrics(a)), _comparable(read_metrics(b))
    assert ra == rb
    episodes = [r["episode"] for r in ra if r["kind"] == "train"]
    assert episodes == sorted(set(episodes))  # no duplicated rows from the replay


def _last_logged_episode(log: Path) -> int:
    lines = log.read_bytes().splitlines() if log.is_file() else []
    for line in reversed(lines):
        try:
            return json.loads(line)["episode"]
        except ValueError:  # a line being written right now
            continue
    return -1


def test_sigkill_at_a_random_moment_then_resume_equals_uninterrupted_run(tmp_path):
    """A real ``python -m fewshot train`` subprocess, killed with SIGKILL at a seeded random point
    after its first checkpoint (possibly inside a checkpoint write), is resumed with
    ``fewshot train --resume`` and compared with an uninterrupted run of the same config."""
    rng = random.Random(int(os.environ.get("FEWSHOT_KILL_SEED", "20240917")))
    target, extra = rng.randint(12, 40), rng.uniform(0.0, 0.01)
    config = tiny_run.write_config(tmp_path)
    killed = tmp_path / "killed"
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(tiny_run.fewshot_command("train", str(config), f"run.out_dir={tmp_path}",
                                                     "run.name=killed", "--no-eval"),
                            env=tiny_run.subprocess_env(), stdout=subprocess.DEVNULL, stderr=err)
    log = killed / "metrics.jsonl"
    # Wait until the log shows episode >= target (so the first checkpoint, at 10, exists), then
    # a random few milliseconds more: the kill lands anywhere in the loop, checkpoint writes included.
    while proc.poll() is None:
        if _last_logged_episode(log) >= target:
            break
        time.sleep(0.002)
    time.sleep(extra)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    err.close()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "stderr.txt").read_text()
    at_kill = load_checkpoint(killed / "checkpoints" / "last.pt")["episode"]
    assert 10 <= at_kill < 60
    log_at_kill = log.read_bytes()

    assert main(["train", "--resume", str(killed), "--no-eval"]) == 0
    train(_config(tmp_path), tmp_path / "reference")
    assert_same_run(killed, tmp_path / "reference")
    offset = load_checkpoint(killed / "checkpoints" / f"episode-{at_kill:07d}.pt")["metrics_offset"] \
        if (killed / "checkpoints" / f"episode-{at_kill:07d}.pt").is_file() else None
    if offset is not None:  # appended, not rewritten: the log up to the checkpoint is untouched
        assert log.read_bytes()[:offset] == log_at_kill[:offset]
    assert not list((killed / "checkpoints").glob(".*.tmp"))


def _random_loss(original):
    """Wrap ProtoNet.episode_loss so the loss depends on Python, NumPy and torch global RNGs:
    a resume that failed to restore any of them would change the weights."""

    def episode_loss(learner, *args):
        out = original(learner, *args)
        noise = 1 + 0.05 * (random.random() + float(np.random.rand()) + float(torch.rand(())))
        return {**out, "loss": out["loss"] * noise}

    return episode_loss


@pytest.mark.parametrize("meta_batch", [1, 3])
def test_replay_from_an_older_checkpoint_is_exact(tmp_path, monkeypatch, meta_batch):
    """The kill landing between an episode and the next checkpoint, in-process: restore the
    snapshot of episode 30 as last.pt (log rows up to 40 already written) and resume."""
    monkeypatch.setattr(ProtoNet, "episode_loss", _random_loss(ProtoNet.episode_loss))
    cfg = _config(tmp_path, *SHORT, f"train.meta_batch={meta_batch}", "train.keep_last=4")
    full = tmp_path / "full"
    train(cfg, full)
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    ckpt = cut / "checkpoints"
    shutil.copy(ckpt / "episode-0000030.pt", ckpt / "last.pt")  # 30 % 3 != 0: mid meta-batch
    offset = load_checkpoint(ckpt / "last.pt")["metrics_offset"]
    before = (cut / "metrics.jsonl").read_bytes()
    assert len(before) > offset  # rows of episodes 35 and 40 are there and will be replayed
    train(cfg, cut, resume=True)
    after = (cut / "metrics.jsonl").read_bytes()
    assert after[:offset] == before[:offset]
    resume_rows = [json.loads(line) for line in after[offset:].splitlines() if b'"resume"' in line]
    assert resume_rows == [{"kind": "resume", "episode": 30, "discarded_rows": 3}]  # train 35, 40; val 40
    assert_same_run(cut, full)


def test_resume_before_the_first_checkpoint_starts_over(tmp_path):
    cfg = _config(tmp_path, *SHORT)
    train(cfg, tmp_path / "full")
    run = tmp_path / "early"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"kind": "train", "episode": 5, "loss": 9.0}\n{"kind": "tr')
    train(cfg, run, resume=True)
    assert_same_run(run, tmp_path / "full")
    assert read_metrics(run)[0]["episode"] == 5 and read_metrics(run)[0]["loss"] != 9.0


def test_resuming_a_finished_run_changes_nothing_and_keeps_snapshots(tmp_path):
    cfg = _config(tmp_path, *SHORT)
    run = tmp_path / "run"
    train(cfg, run)
    ckpt = run / "checkpoints"
    assert sorted(p.name for p in ckpt.iterdir()) == ["best.pt", "episode-0000030.pt", "episode-0000040.pt",
                                                     "last.pt"]
    assert (ckpt / "last.pt").read_bytes() == (ckpt / "episode-0000040.pt").read_bytes()
    weights = load_checkpoint(ckpt / "last.pt")["model"]
    (ckpt / ".last.pt.abc.tmp").write_bytes(b"torn")  # left by a write that was killed
    result = train(cfg, run, resume=True)
    assert result.episodes == 40
    assert not list(ckpt.glob(".*.tmp"))
    for k, v in load_checkpoint(ckpt / "last.pt")["model"].items():
        assert torch.equal(v, weights[k])
    info = json.loads((run / "run.json").read_text())
    assert info["resumes"][0]["episode"] == 40 and "commit" in info


_WRITER = """
import sys, torch
from fewshot.runs.checkpoint import save_checkpoint
target = sys.argv[1]
i = 0
while True:
    i += 1
    save_checkpoint({"model": {"w": torch.full((1_000_000,), float(i))}, "config": {}, "i": i}, target)
    print(i, flush=True)
"""


def test_a_kill_during_a_checkpoint_write_leaves_a_loadable_checkpoint(tmp_path):
    target = tmp_path / "last.pt"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE,
                            env=tiny_run.subprocess_env(), text=True)
    seen = [int(proc.stdout.readline()) for _ in range(random.Random(7).randint(2, 5))]
    time.sleep(random.Random(8).uniform(0, 0.05))  # mostly lands inside torch.save or fsync
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = load_checkpoint(target)
    assert state["i"] >= seen[-1]
    assert torch.equal(state["model"]["w"], torch.full((1_000_000,), float(state["i"])))
    remove_stale_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_rng_capture_and_restore_cover_python_numpy_and_torch():
    state = capture_rng()
    first = (random.random(), float(np.random.rand()), float(torch.rand(())))
    restore_rng(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == first
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    restore_rng(torch.load(buf, weights_only=True))  # checkpoint-safe values only
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == first


@pytest.mark.slow
def test_several_kills_in_a_row(tmp_path):
    """Three kills at random points, each followed by a subprocess resume."""
    config = tiny_run.write_config(tmp_path)
    run = tmp_path / "k"
    rng = random.Random(99)
    fresh = ["train", str(config), f"run.out_dir={tmp_path}", "run.name=k", "--no-eval"]
    resume = ["train", "--resume", str(run), "--no-eval"]
    for _ in range(3):
        argv = resume if (run / "config.yaml").is_file() else fresh
        proc = subprocess.Popen(tiny_run.fewshot_command(*argv), env=tiny_run.subprocess_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    argv = resume if (run / "config.yaml").is_file() else fresh
    subprocess.run(tiny_run.fewshot_command(*argv), env=tiny_run.subprocess_env(), check=True,
                   stdout=subprocess.DEVNULL)
    train(_config(tmp_path), tmp_path / "reference")
    assert_same_run(run, tmp_path / "reference")


@pytest.mark.parametrize("extra", [[], ["train.meta_batch=3", "data.train_tasks=6"]])
def test_prefetching_changes_no_number_and_checkpoints_where_the_loop_is(tmp_path, extra):
    """train.prefetch gathers episodes ahead in a background thread: the same run as without it,
    and every checkpoint's sampler position is the episodes trained on, not those drawn ahead."""
    runs = {}
    for depth in (0, 2, 5):
        cfg = _config(tmp_path, *SHORT, "train.keep_last=8", f"train.prefetch={depth}", *extra)
        runs[depth] = tmp_path / f"prefetch{depth}"
        train(cfg, runs[depth])
    assert_same_run(runs[2], runs[0])
    assert_same_run(runs[5], runs[0])
    for path in sorted((runs[5] / "checkpoints").glob("episode-*.pt")):
        state = load_checkpoint(path)
        plain = load_checkpoint(runs[0] / "checkpoints" / path.name)
        assert state["sampler"] == plain["sampler"], path.name
        assert state["sampler"]["position"] == state["episode"] % 40 or state["episode"] == 40


def test_ahead_keeps_order_loads_in_the_background_and_stops_early():
    import threading

    from fewshot.engine.trainer import ahead

    drawn, threads = [], set()

    def items():
        for i in range(10):
            drawn.append(i)
            yield i

    def load(i):
        threads.add(threading.current_thread().name)
        return i * i

    got = []
    for item, value in ahead(items(), load, depth=3):
        assert len(drawn) <= item + 1 + 3  # never more than depth ahead of the consumer
        got.append((item, value))
    assert got == [(i, i * i) for i in range(10)]
    assert all(name.startswith("fewshot-prefetch") for name in threads)
    gen = ahead(iter(range(100)), load, depth=2)
    assert next(gen) == (0, 0)
    gen.close()  # a loop that stops early (patience) leaves no thread behind
    assert not any(t.name.startswith("fewshot-prefetch") for t in threading.enumerate())
    assert list(ahead(iter(range(4)), load, depth=0)) == [(i, i * i) for i in range(4)]

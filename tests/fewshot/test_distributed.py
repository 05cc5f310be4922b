"""Data-parallel training (fewshot.engine.distributed): sharded episodes, DDP gradients, resume.

The two end-to-end tests start real 2-process gloo runs on CPU (``fewshot train --nproc 2``,
which runs torchrun) on the tiny synthetic data set of ``tiny_run.py``; they share one run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)

from fewshot.config import load_config  # noqa: E402
from fewshot.data.registry import load_split  # noqa: E402
from fewshot.engine import distributed as dist  # noqa: E402
from fewshot.evaluation.evaluate import EvalResult  # noqa: E402
from fewshot.evaluation.sharded import merge_shards  # noqa: E402
from fewshot.runs.build import build_learner  # noqa: E402
from fewshot.runs.checkpoint import load_checkpoint  # noqa: E402
from fewshot.runs.episodes import build_sampler  # noqa: E402

# 12 episodes, 4 per optimiser step (2 per rank), checkpoints after every step.
OVERRIDES = ["train.episodes=12", "train.meta_batch=4", "train.ckpt_every=4", "train.keep_last=3",
             "train.log_every=4", "train.val_every=8", "train.val_episodes=5", "train.lr_step=4",
             "eval.shots=[1]", "eval.episodes=5"]


def _config(tmp: Path, name: str):
    return load_config(tiny_run.write_config(tmp), OVERRIDES + [f"run.out_dir={tmp / 'runs'}",
                                                                f"run.name={name}"])


def _launch(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = tiny_run.fewshot_command("train", "--nproc", "2", *args)
    proc = subprocess.run(cmd, cwd=tmp, env=tiny_run.subprocess_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """A 2-process run of the tiny config, with its final (sharded) evaluation."""
    tmp = tmp_path_factory.mktemp("ddp")
    cfg_path = tiny_run.write_config(tmp)
    proc = _launch(tmp, str(cfg_path), *OVERRIDES, f"run.out_dir={tmp / 'runs'}", "run.name=two")
    return tmp, tmp / "runs" / "two", proc


def _model(run_dir: Path, name: str = "last.pt"):
    return load_checkpoint(run_dir / "checkpoints" / name)["model"]


def _rows(run_dir: Path):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "episodes_per_s"} for r in rows if r["kind"] != "resume"]


# ---- the sampler split -----------------------------------------------------------------------
@pytest.mark.parametrize("world, batch", [(2, 4), (3, 6), (4, 4)])
def test_shards_are_disjoint_cover_the_sequence_and_keep_each_episode_on_its_step(world, batch, tmp_path):
    cfg = _config(tmp_path, "x")
    split = load_split("tiny", "train")
    whole = build_sampler(cfg.train, split, 48, seed=5)
    shards = [[(e.index, tuple(e.indices)) for e in whole.shard(r, world).iter_episodes()] for r in range(world)]
    single = [(e.index, tuple(e.indices)) for e in whole.iter_episodes()]
    indices = [i for shard in shards for i, _ in shard]
    assert len(indices) == len(set(indices)) == 48  # no episode drawn twice
    assert sorted(e for shard in shards for e in shard) == single  # union = the single-process run
    local = batch // world
    for shard in shards:  # local step s holds global episodes s*B .. s*B+B-1, as in one process
        for pos, (i, _) in enumerate(shard):
            assert i // batch == pos // local


def test_check_train_refuses_splits_that_are_not_exact(monkeypatch, tmp_path):
    monkeypatch.setattr(dist, "world_size", lambda: 2)
    cfg = _config(tmp_path, "x")
    dist.check_train(cfg.train)  # 12 episodes, meta-batch 4, checkpoints every 4: fine
    for key, value, words in (("meta_batch", 3, "train.meta_batch=3"), ("episodes", 13, "train.episodes=13"),
                              ("ckpt_every", 6, "train.ckpt_every=6")):
        bad = _config(tmp_path, "x")
        setattr(bad.train, key, value)
        with pytest.raises(ValueError, match=words):
            dist.check_train(bad.train)


def test_merge_shards_restores_the_single_process_order():
    """Shard r holds global episodes r, r + W, ...; episodes of varying ways and shots."""
    rng = np.random.default_rng(0)
    n, world = 7, 3
    ways = rng.integers(2, 5, n)
    shots = [rng.integers(1, 4, w) for w in ways]
    full = EvalResult("s", 0, 0, 0, rng.random(n), episode_kind="variable", ways=ways,
                      shots=np.concatenate(shots), queries=np.concatenate(shots) + 10,
                      domains=np.arange(n))
    parts = [EvalResult("s", 0, 0, 0, full.accuracies[r::world], seconds=r, episode_kind="variable",
                        ways=ways[r::world], shots=np.concatenate(shots[r::world]),
                        queries=np.concatenate(shots[r::world]) + 10, domains=np.arange(n)[r::world])
             for r in range(world)]
    merged = merge_shards(parts)
    for key in ("accuracies", "ways", "shots", "queries", "domains"):
        np.testing.assert_array_equal(getattr(merged, key), getattr(full, key), err_msg=key)
    assert merged.mean == pytest.approx(full.mean) and merged.ci95 == pytest.approx(full.ci95)


# ---- 2 processes against 1 -------------------------------------------------------------------
def test_two_processes_match_one_process_with_the_same_meta_batch(two_process_run, tmp_path):
    from fewshot.engine.trainer import train

    tmp, two, proc = two_process_run
    one = tmp_path / "one"
    train(_config(tmp_path, "one"), one)
    a, b = _model(one), _model(two)
    # Some parameters get an exactly zero gradient: conv biases just before a BatchNorm (the norm
    # subtracts them) and the last BatchNorm's shift (squared distances ignore a common shift).
    # Adam turns their rounding noise into steps of up to lr, so they are left out here, and the
    # training-mode loss of an episode, which they cannot change, is compared instead.
    cancelled = {f"backbone.blocks.{i}.0.bias" for i in range(4)} | {"backbone.blocks.3.1.bias"}
    params = [n for n, _ in build_learner(_config(tmp_path, "one"), 1).named_parameters()]
    assert cancelled < set(params)
    for name in params:
        if name not in cancelled:
            torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=name)
    split = load_split("tiny", "train")
    episode = next(build_sampler(_config(tmp_path, "one").train, split, 1, seed=9).iter_episodes())
    x = torch.from_numpy(split.images[episode.indices]).float().unsqueeze(1) / 255
    losses = []
    for weights in (a, b):
        learner = build_learner(_config(tmp_path, "one"), 1)
        learner.load_state_dict(weights)
        losses.append(float(learner.episode_loss(x[:4], torch.arange(4), x[4:], torch.arange(4).repeat_interleave(2),
                                                 4)["loss"]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    moved = max((a[n] - load_checkpoint(one / "checkpoints" / "episode-0000004.pt")["model"][n]).abs().max()
                for n in params if n not in cancelled)
    assert moved > 1e-3  # the weights did change over the run
    # the same logged training losses (ranks' means averaged), the same global episode counts
    train_rows = lambda d: [r for r in _rows(d) if r["kind"] == "train"]  # noqa: E731
    assert [r["episode"] for r in train_rows(two)] == [4, 8, 12]
    for ra, rb in zip(train_rows(one), train_rows(two)):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4) and ra["lr"] == rb["lr"]
    # rank 0 alone printed and wrote; the final evaluation covered every episode once
    assert proc.stdout.count("run folder:") == 1
    from fewshot.evaluation.run_eval import evaluate_run

    check = tmp_path / "check"
    shutil.copytree(two, check)
    (check / "results.json").unlink()
    single = evaluate_run(check, progress=False)[0]  # this process alone, the same checkpoint
    sharded = json.loads((two / "results.json").read_text())
    assert len(sharded) == 1 and sharded[0]["episodes"] == single.episodes == 5
    assert sharded[0]["accuracy"] == pytest.approx(100 * single.mean, abs=1e-3)
    assert sharded[0]["ci95"] == pytest.approx(100 * single.ci95, abs=1e-3)
    state = load_checkpoint(two / "checkpoints" / "last.pt")
    assert state["sampler"]["world_size"] == 2 and len(state["rng_by_rank"]) == 2


def test_resuming_a_two_process_run_gives_the_uninterrupted_result(two_process_run):
    tmp, two, _ = two_process_run
    resumed = tmp / "runs" / "resumed"
    shutil.copytree(two, resumed)
    ckpt = resumed / "checkpoints"
    shutil.copyfile(ckpt / "episode-0000004.pt", ckpt / "last.pt")  # as if killed after episode 4
    for later in ("episode-0000008.pt", "episode-0000012.pt"):
        (ckpt / later).unlink()
    _launch(tmp, "--resume", str(resumed), "--no-eval")
    a, b = _model(two), _model(resumed)
    for name in a:  # same world size and seed: bit-for-bit, buffers included
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)
    assert _rows(resumed) == _rows(two)


# ---- standard pre-training on 2 processes ---------------------------------------------------
PRETRAIN = ["model.learner=pretrain", "pretrain.batch_size=16", "pretrain.augment=crop_flip", "train.lr=0.05",
            "train.episodes=8", "train.ckpt_every=4", "train.keep_last=3", "train.log_every=2",
            "train.val_every=4", "train.val_episodes=5", "eval.shots=[1]", "eval.episodes=4",
            "train.tensorboard=false"]


def test_two_process_pretraining_matches_one_process_accumulating_two_chunks(tmp_path):
    """P processes compute what one process computes with ``pretrain.accumulate = P`` (the batch cut
    into the same interleaved chunks, the same augmentation), and a resumed 2-process run ends
    bit-for-bit where the uninterrupted one did."""
    from fewshot.engine.pretrain import pretrain

    cfg_path = tiny_run.write_config(tmp_path)
    _launch(tmp_path, str(cfg_path), *PRETRAIN, f"run.out_dir={tmp_path / 'runs'}", "run.name=two", "--no-eval")
    two = tmp_path / "runs" / "two"
    one = tmp_path / "one"
    pretrain(load_config(cfg_path, PRETRAIN + ["pretrain.accumulate=2"]), one)
    a, b = load_checkpoint(one / "checkpoints" / "last.pt"), load_checkpoint(two / "checkpoints" / "last.pt")
    start = load_checkpoint(one / "checkpoints" / "episode-0000004.pt")
    # conv biases before a BatchNorm get an exactly zero gradient (see the episodic test above)
    cancelled = {f"backbone.blocks.{i}.0.bias" for i in range(4)}
    # parameters only: BatchNorm running statistics differ (one process updates them once per
    # chunk, DDP keeps rank 0's), as does the base mean computed from them
    params = [n for n, v in a["model"].items() if n not in cancelled and v.is_floating_point()
              and "running" not in n and n != "base_mean"]
    for name in params:
        torch.testing.assert_close(b["model"][name], a["model"][name], rtol=1e-4, atol=1e-5, msg=name)
    for name in a["head"]:
        torch.testing.assert_close(b["head"][name], a["head"][name], rtol=1e-4, atol=1e-5, msg=name)
    assert max(float((a["model"][n] - start["model"][n]).abs().max()) for n in params) > 1e-3  # it learned
    train_rows = lambda d: [r for r in _rows(d) if r["kind"] == "train"]  # noqa: E731
    assert [r["episode"] for r in train_rows(two)] == [2, 4, 6, 8]
    for ra, rb in zip(train_rows(one), train_rows(two)):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4) and ra["acc"] == pytest.approx(rb["acc"])
    assert len(b["rng_by_rank"]) == 2 and b["kind"] == "pretrain"

    resumed = tmp_path / "runs" / "resumed"
    shutil.copytree(two, resumed)
    ckpt = resumed / "checkpoints"
    shutil.copyfile(ckpt / "episode-0000004.pt", ckpt / "last.pt")  # as if killed after step 4
    (ckpt / "episode-0000008.pt").unlink()
    _launch(tmp_path, "--resume", str(resumed), "--no-eval")
    c = load_checkpoint(resumed / "checkpoints" / "last.pt")
    for part in ("model", "head"):
        for name in b[part]:
            torch.testing.assert_close(c[part][name], b[part][name], rtol=0, atol=0, msg=name)
    assert _rows(resumed) == _rows(two)


def test_pretraining_batch_must_split_into_equal_chunks(tmp_path):
    from fewshot.engine.pretrain import pretrain

    cfg = load_config(tiny_run.write_config(tmp_path), PRETRAIN + ["pretrain.batch_size=15", "pretrain.accumulate=2"])
    with pytest.raises(ValueError, match="pretrain.batch_size=15 does not split into 2 equal chunks"):
        pretrain(cfg, tmp_path / "bad")


def test_finished_ranks_leave_the_group_together(tmp_path):
    """A finished rank waits in ``ranks.cleanup`` for the slowest one before leaving the group."""
    import torch.multiprocessing as mp

    mp.spawn(tiny_run.leave_group, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    slow = json.loads((tmp_path / "0.json").read_text())
    fast = json.loads((tmp_path / "1.json").read_text())
    assert fast["after"] >= slow["before"]

"""Standard pre-training: SimpleShot's nearest centroid against a naive loop, the heads, batch
augmentation, and the non-episodic loop (checkpoints, base-class mean, exact resume, CLI)."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fewshot.augment import augment as augment_batch
from fewshot.augment import crop_and_flip, random_boxes
from fewshot.config import load_config
from fewshot.engine.pretrain import EpochBatches, base_class_mean, pretrain
from fewshot.learners import CosineHead, SimpleShot, make_head

sys.path.insert(0, str(Path(__file__).parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)


def naive_simpleshot(zs, ys, zq, n_way, mean, l2, center):
    """SimpleShot written out: t(z) = (z - m) / ||z - m||; centroid = mean of t(z_i) of a class;
    logit = -||t(q) - c||^2."""
    def t(z):
        z = [float(v) for v in z]
        if center:
            z = [a - float(b) for a, b in zip(z, mean)]
        if l2:
            n = sum(a * a for a in z) ** 0.5
            z = [a / n for a in z]
        return z

    out = torch.empty(len(zq), n_way, dtype=torch.float64)
    for k in range(n_way):
        members = [t(zs[i]) for i in range(len(zs)) if int(ys[i]) == k]
        c = [sum(col) / len(members) for col in zip(*members)]
        for i, q in enumerate(zq):
            out[i, k] = -sum((a - b) ** 2 for a, b in zip(t(q), c))
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("l2, center", [(False, False), (True, False), (True, True), (False, True)])
def test_nearest_centroid_matches_naive_loop(dtype, l2, center):
    g = torch.Generator().manual_seed(0)
    zs, zq = torch.randn(8, 5, generator=g, dtype=dtype) + 2, torch.randn(6, 5, generator=g, dtype=dtype) + 2
    ys = torch.tensor([0, 1, 2, 3, 0, 1, 2, 0])
    mean = torch.randn(5, generator=g)
    learner = SimpleShot(torch.nn.Identity(), feature_dim=5, l2=l2, center=center)
    learner.set_base_mean(mean)
    got = learner.logits_from_features(zs, ys, zq, 4)
    want = naive_simpleshot(zs, ys, zq, 4, mean, l2, center).to(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got, want, **tol)


def test_base_mean_is_a_checked_buffer_and_missing_mean_warns():
    learner = SimpleShot(torch.nn.Identity(), feature_dim=3)
    assert {"base_mean", "has_base_mean"} <= set(learner.state_dict())
    with pytest.raises(ValueError, match="shape"):
        learner.set_base_mean(torch.zeros(4))
    with pytest.warns(UserWarning, match="not centred"):
        learner.transform(torch.ones(2, 3))
    learner.set_base_mean(torch.tensor([1.0, 1.0, 1.0]))
    fresh = SimpleShot(torch.nn.Identity(), feature_dim=3)
    fresh.load_state_dict(learner.state_dict())
    torch.testing.assert_close(fresh.transform(torch.tensor([[2.0, 1.0, 1.0]])), torch.tensor([[1.0, 0.0, 0.0]]))


def test_cosine_head_matches_definition():
    g = torch.Generator().manual_seed(1)
    head = CosineHead(4, 3, scale=5.0, learn_scale=False)
    z = torch.randn(2, 4, generator=g)
    want = torch.tensor([[5.0 * torch.nn.functional.cosine_similarity(z[i], head.weight[c].detach(), dim=0)
                          for c in range(3)] for i in range(2)])
    torch.testing.assert_close(head(z), want)
    assert isinstance(make_head("cosine", 4, 3), CosineHead) and isinstance(make_head("linear", 4, 3), torch.nn.Linear)
    with pytest.raises(ValueError, match="pretrain.head"):
        make_head("mlp", 4, 3)


def test_batches_cover_each_epoch_once_and_are_seeded():
    b = EpochBatches(n=50, batch_size=8, seed=3)
    epoch = np.concatenate([b.indices(s) for s in range(b.per_epoch)])
    assert len(np.unique(epoch)) == len(epoch) == 48  # no repeats; the last 2 images are dropped
    assert not np.array_equal(b.indices(0), b.indices(b.per_epoch))  # a new permutation per epoch
    np.testing.assert_array_equal(b.indices(7), EpochBatches(50, 8, 3).indices(7))
    with pytest.raises(ValueError, match="batch_size"):
        EpochBatches(n=5, batch_size=8, seed=0)


def test_augmentation():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 2, 8, 8, generator=g)
    full = torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 6, dtype=torch.float64)
    flips = torch.tensor([True, False] * 3)
    out = crop_and_flip(x, full, flips)  # the whole image: identity, or an exact mirror
    torch.testing.assert_close(out[1::2], x[1::2])
    torch.testing.assert_close(out[::2], x[::2].flip(3))
    boxes = random_boxes(1000, torch.Generator().manual_seed(1))
    area = boxes[:, 0] * boxes[:, 1]  # half-sides: area fraction
    assert area.min() >= 0.08 - 1e-9 and area.max() <= 1 + 1e-9
    assert ((boxes[:, 2].abs() + boxes[:, 0]) <= 1 + 1e-9).all()  # boxes stay inside the image
    flipped = augment_batch(x, "flip", torch.Generator().manual_seed(2))
    assert all(torch.equal(f, a) or torch.equal(f, a.flip(2)) for f, a in zip(flipped, x))
    a = augment_batch(x, "crop_flip", torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, augment_batch(x, "crop_flip", torch.Generator().manual_seed(3)))
    assert augment_batch(x, "none", g) is x
    with pytest.raises(ValueError, match="augment"):
        augment_batch(x, "mixup", g)


def tiny_cfg(tmp_path, *overrides):
    path = tiny_run.write_config(tmp_path)
    return load_config(path, ["model.learner=pretrain", "pretrain.batch_size=16", "train.lr=0.05",
                              "train.episodes=40", "train.val_every=20", "train.ckpt_every=10",
                              "train.tensorboard=false", *overrides])


def test_pretraining_learns_and_stores_the_base_mean(tmp_path):
    from fewshot.evaluation.run_eval import evaluate_run, load_learner

    cfg = tiny_cfg(tmp_path, "pretrain.head=cosine", "pretrain.milestones=[20]", "pretrain.augment=flip",
                   "train.episodes=30", "train.val_every=15")
    result = pretrain(cfg, tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert train_rows[-1]["loss"] < train_rows[0]["loss"]
    assert [r["lr"] for r in train_rows if r["episode"] in (20, 25)] == pytest.approx([0.05, 0.025])
    assert [r["episode"] for r in rows if r["kind"] == "val"] == [15, 30]
    assert result.episodes == 30 and result.best_val is not None
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert set(state["head"]) == {"weight", "scale"} and not any(k.startswith("head") for k in state["model"])
    learner, _, norm = load_learner(tmp_path / "run" / "checkpoints" / "last.pt")
    images = tiny_run.load_tiny("train").images
    assert bool(learner.has_base_mean)
    torch.testing.assert_close(learner.base_mean, base_class_mean(learner, images, norm, batch_size=7))
    res = evaluate_run(tmp_path / "run", progress=False)
    assert [r.k_shot for r in res] == [1, 2] and all(0 <= r.mean <= 1 for r in res)


def test_resume_is_exact(tmp_path):
    once = tiny_cfg(tmp_path, "pretrain.augment=crop_flip", "train.episodes=20", "train.val_every=0")
    pretrain(once, tmp_path / "once")
    run = tmp_path / "twice"
    # a run killed after step 10: train to 20 with checkpoints every 10, then go back to step 10
    pretrain(once, run)
    (run / "checkpoints" / "episode-0000020.pt").unlink()
    shutil.copy(run / "checkpoints" / "episode-0000010.pt", run / "checkpoints" / "last.pt")
    pretrain(once, run, resume=True)
    a = torch.load(tmp_path / "once" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    for key in a["head"]:
        torch.testing.assert_close(a["head"][key], b["head"][key], rtol=0, atol=0)


@pytest.mark.parametrize("override, needle", [("pretrain.optimizer=rmsprop", "pretrain.optimizer"),
                                              ("pretrain.milestones=[20,10]", "milestones"),
                                              ("model.learner=protonet", "model.learner: pretrain"),
                                              ("pretrain.batch_size=1000", "batch_size")])
def test_bad_settings_are_rejected(tmp_path, override, needle):
    with pytest.raises(ValueError, match=needle):
        pretrain(tiny_cfg(tmp_path, override), tmp_path / "bad")


def test_cli_dispatches_pretrain(tmp_path, capsys):
    from fewshot.cli import main

    cfg = tiny_run.write_config(tmp_path)
    assert main(["train", str(cfg), "model.learner=pretrain", "pretrain.batch_size=16", "train.episodes=6",
                 "train.val_every=0", "train.tensorboard=false", f"run.out_dir={tmp_path}", "run.name=pre",
                 "--no-eval"]) == 0
    state = torch.load(tmp_path / "pre" / "checkpoints" / "last.pt", weights_only=True)
    assert state["kind"] == "pretrain" and state["episode"] == 6


def test_the_episodic_trainer_refuses_a_learner_that_trains_on_batches(tmp_path):
    """engine.trainer.train on `pretrain` would train it episodically while config.yaml records
    pretrain.* keys it never applied: refused, naming the trainer to use."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tiny_run

    from fewshot.config import load_config
    from fewshot.engine.trainer import train

    cfg = load_config(tiny_run.write_config(tmp_path), [f"run.out_dir={tmp_path}", "model.learner=pretrain"])
    with pytest.raises(ValueError, match="trains on batches.*fewshot.engine.pretrain.pretrain"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()

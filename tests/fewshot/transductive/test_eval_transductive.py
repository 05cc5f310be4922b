"""Evaluation over cached features: same episodes as the inductive path, chunking, lambda
tuning, and `fewshot eval --transductive` end to end on a tiny trained run."""

import csv
import dataclasses
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from episodes import EpisodeSampler
from fewshot.evaluation.evaluate import evaluate
from fewshot.evaluation.transductive import (
    TransductiveSpec,
    evaluate_spec,
    evaluate_transductive,
    tune_lambda,
)
from fewshot.learners import ProtoNet

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def split_features():
    """12 classes x 20 samples of 8-d features around class centres: (features, labels)."""
    g = torch.Generator().manual_seed(0)
    labels = np.repeat(np.arange(12), 20)
    centres = 2.0 * torch.randn(12, 8, generator=g)
    feats = centres[torch.as_tensor(labels)] + torch.randn(len(labels), 8, generator=g)
    return feats, labels


def test_same_episodes_as_the_inductive_path(split_features):
    feats, labels = split_features
    split = SimpleNamespace(labels=labels, name="toy")
    norm = SimpleNamespace(device=torch.device("cpu"))
    learner = ProtoNet(torch.nn.Identity(), learn_scale=False)
    for k in (1, 3):
        sampler = EpisodeSampler(labels, n_way=5, k_shot=k, n_query=4, n_episodes=30, seed=7, advance_epoch=False)
        ind = evaluate(learner, split, norm, sampler, feature_cache=True, features=feats)
        tr = evaluate_transductive(feats, labels, "nearest-centroid", sampler)
        np.testing.assert_array_equal(tr.accuracies, ind.accuracies)
        assert tr.method == "nearest-centroid" and tr.seconds > 0 and tr.episodes == 30


def test_chunk_size_does_not_change_results(split_features):
    feats, labels = split_features
    sampler = EpisodeSampler(labels, n_way=4, k_shot=2, n_query=3, n_episodes=25, seed=3, advance_epoch=False)
    kw = dict(norm="l2", shift=True)
    for method in ("laplacian-kmeans", "tim"):
        options = {"steps": 5} if method == "tim" else {"lam": 0.8}
        a = evaluate_transductive(feats, labels, method, sampler, chunk=4, options=options, **kw)
        b = evaluate_transductive(feats, labels, method, sampler, chunk=100, options=options, **kw)
        np.testing.assert_allclose(a.accuracies, b.accuracies)
        assert a.method == b.method == f"{method}[l2,shift,{next(iter(options))}={next(iter(options.values()))}]"


def test_tune_lambda_picks_the_best_of_the_grid(split_features):
    feats, labels = split_features
    sampler = EpisodeSampler(labels, n_way=5, k_shot=1, n_query=5, n_episodes=20, seed=1, advance_epoch=False)
    best, scores = tune_lambda(feats, labels, "laplacianshot", sampler, grid=(0.0, 0.5, 2.0, 8.0), norm="l2")
    assert set(scores) == {0.0, 0.5, 2.0, 8.0}
    for lam, acc in scores.items():
        res = evaluate_transductive(feats, labels, "laplacianshot", sampler, options={"lam": lam}, norm="l2")
        assert acc == pytest.approx(res.mean)
    assert scores[best] == max(scores.values())
    with pytest.raises(ValueError, match="no Laplacian weight"):
        tune_lambda(feats, labels, "kmeans", sampler, norm="l2")


def test_spec_validation(split_features):
    with pytest.raises(ValueError, match="unknown transductive method"):
        TransductiveSpec("laplace")
    with pytest.raises(ValueError, match="has no option"):
        TransductiveSpec("kmeans", options={"lam": 0.3})
    with pytest.raises(ValueError, match="not both"):
        TransductiveSpec("laplacianshot", options={"lam": 0.3}, tune_lambda=True)
    with pytest.raises(ValueError, match="normalisation"):
        TransductiveSpec("kmeans", norm="zca")
    feats, labels = split_features
    spec = TransductiveSpec("kmeans", norm="cl2n")
    with pytest.raises(ValueError, match="base_mean"):
        evaluate_spec(spec, feats, labels, EpisodeSampler(labels, n_way=3, k_shot=1, n_query=2, n_episodes=2, seed=0))


@pytest.fixture
def tiny_run_dir(tmp_path):
    """A run folder whose checkpoint holds a freshly initialised ProtoNet on the "tiny" data set
    (what ``fewshot eval`` reads; no training needed to test the plumbing)."""
    sys.path.insert(0, str(TESTS))
    import tiny_run  # registers the "tiny" data set

    from fewshot.config import load_config
    from fewshot.runs.build import build_learner
    from fewshot.runs.checkpoint import FORMAT, save_checkpoint

    cfg = load_config(tiny_run.write_config(tmp_path))
    torch.manual_seed(0)
    learner = build_learner(cfg, 1)
    run = tmp_path / "run"
    save_checkpoint({"format": FORMAT, "config": cfg.to_dict(), "model": learner.state_dict(),
                     "norm": {"mean": [0.5], "std": [0.25]}, "in_channels": 1,
                     "learner": cfg.model.learner, "backbone": cfg.model.backbone},
                    run / "checkpoints" / "best.pt")
    return run


def test_fewshot_eval_transductive_end_to_end(tiny_run_dir):
    from fewshot.cli import main

    run = tiny_run_dir
    common = ["--quiet", "--episodes", "4", "--shots", "1", "2"]
    assert main(["eval", str(run), *common]) == 0
    assert main(["eval", str(run), *common, "--transductive", "laplacian-kmeans", "--tune-lambda",
                 "--lambda-grid", "0.1", "1.0", "--val-episodes", "3", "--shift-query"]) == 0
    assert main(["eval", str(run), *common, "--transductive", "tim", "--option", "steps=3",
                 "--norm", "l2"]) == 0
    assert main(["eval", str(run), *common, "--transductive", "laplacianshot", "--norm", "none"]) == 0
    # without --norm, TIM gets its reference normalisation (L2 only, as official TIM), not CL2N
    assert main(["eval", str(run), *common, "--transductive", "tim", "--option", "steps=2"]) == 0
    # the same episodes as the inductive path: ProtoNet's logits are the nearest centroid's
    assert main(["eval", str(run), *common, "--transductive", "nearest-centroid", "--norm", "none"]) == 0
    rows = json.loads((run / "results.json").read_text())

    def accuracies(method, k):  # each row names its own per-episode CSV
        (name,) = [r["episodes_csv"] for r in rows if r["method"] == method and r["k_shot"] == k]
        with (run / name).open() as f:
            return [row["accuracy"] for row in csv.DictReader(f)]

    for k in (1, 2):
        assert accuracies("nearest-centroid", k) == accuracies("inductive", k)
    methods = sorted({r["method"] for r in rows})
    assert methods[0] == "inductive"
    assert any(m.startswith("laplacian-kmeans[cl2n,shift,lam=") for m in methods)
    assert "tim[l2,steps=3]" in methods
    assert "tim[l2,steps=2]" in methods and not any(m.startswith("tim[cl2n") for m in methods)
    assert "laplacianshot[lam=0.7]" in methods  # the default Laplacian weight shows in the tag
    tuned = [r for r in rows if r.get("transductive") == "laplacian-kmeans"]
    assert len(tuned) == 2 and all(set(r["lambda_scores"]) == {"0.1", "1.0"} for r in tuned)
    assert all(r["ms_per_episode"] > 0 for r in rows)
    assert len(list((run / "eval").glob("*tim*steps=3*.csv"))) == 2
    # options that only make sense with --transductive are refused without it
    assert main(["eval", str(run), "--quiet", "--lambda", "0.5"]) == 2
    assert main(["eval", str(run), "--quiet", "--transductive", "kmeans", "--lambda", "0.5"]) == 2


def test_cross_domain_transductive_uses_the_runs_own_base_classes(tiny_run_dir):
    """``--data OTHER --norm cl2n`` centres by the mean of the run's own training split, and
    ``--tune-lambda`` tunes on the run's own validation split: the target data set has neither."""
    import tiny_run

    from fewshot.cli import main
    from fewshot.data.registry import register_dataset

    @register_dataset("tiny_target_only")
    def load_target(split, root=None, image_size=16, **options):
        if split != "novel":
            raise ValueError(f"data set 'tiny_target_only' has no split {split!r}; it has only 'novel'")
        full = tiny_run.load_tiny("test", image_size=image_size, seed=7)
        return dataclasses.replace(full, name="tiny_target_only/novel")

    run = tiny_run_dir
    assert main(["eval", str(run), "--quiet", "--episodes", "4", "--shots", "1", "--data", "tiny_target_only",
                 "--split", "novel", "--transductive", "laplacian-kmeans", "--norm", "cl2n", "--tune-lambda",
                 "--lambda-grid", "0.1", "1.0", "--val-episodes", "3"]) == 0
    rows = [r for r in json.loads((run / "results.json").read_text()) if r["dataset"] == "tiny_target_only"]
    assert len(rows) == 1 and rows[0]["split"] == "novel" and rows[0]["method"].startswith("laplacian-kmeans[cl2n")

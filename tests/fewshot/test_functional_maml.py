"""The vectorised engine of the MAML family (fewshot/learners/functional_maml.py) against
learn2learn's per-task loop and the hand-unrolled references of test_maml.py: meta-gradients,
running statistics, batched evaluation, task interpolation, resume, options."""

import copy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("learn2learn")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_maml import mlp_learner, unrolled  # noqa: E402

from fewshot.backbones import Conv4, ResNet12  # noqa: E402
from fewshot.learners import ANIL, FOMAML, MAML, MetaSGD, create_learner  # noqa: E402

LEARNERS = [MAML, FOMAML, ANIL, MetaSGD]
TOL = dict(rtol=1e-5, atol=1e-5)


def tasks(n_tasks=4, n_way=3, k=2, q=2, size=16, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    ys, yq = torch.arange(n_way).repeat_interleave(k), torch.arange(n_way).repeat_interleave(q)
    return [(torch.randn(n_way * k, 1, size, size, generator=g, dtype=dtype), ys,
             torch.randn(n_way * q, 1, size, size, generator=g, dtype=dtype), yq) for _ in range(n_tasks)]


def learner_pair(cls, bn, steps, backbone="conv4", seed=0):
    """The same learner (same weights) on both engines, float64."""
    torch.manual_seed(seed)
    net = Conv4(1, 8) if backbone == "conv4" else ResNet12(1, (2, 3, 4, 5))
    dim = 8 if backbone == "conv4" else 5
    ref = cls(net, feature_dim=dim, n_way=3, inner_steps=steps, inner_lr=0.1, bn=bn).double()
    if cls is MetaSGD:  # a different step size per weight, so a scalar-lr bug would show
        with torch.no_grad():
            for i, lr in enumerate(ref.inner_lrs):
                lr.uniform_(0.02, 0.2, generator=torch.Generator().manual_seed(i))
    vec = copy.deepcopy(ref)
    vec.engine = "vectorised"
    return ref, vec


def learn2learn_step(learner, batch):
    """What the trainer does without ``meta_batch_loss``: one backward per episode, loss / B."""
    outs = []
    for task in batch:
        out = learner.episode_loss(*task, 3)
        (out["loss"] / len(batch)).backward()
        outs.append(out["loss"].detach())
    return torch.stack(outs).mean()


def assert_same_state(ref, vec, **tol):
    grads_r = {k: p.grad for k, p in ref.named_parameters()}
    for k, p in vec.named_parameters():
        assert (p.grad is None) == (grads_r[k] is None), k
        if p.grad is not None:
            torch.testing.assert_close(p.grad, grads_r[k], msg=k, **tol)
    buffers_r = dict(ref.named_buffers())
    for k, b in vec.named_buffers():
        torch.testing.assert_close(b, buffers_r[k], msg=k, **tol)


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("bn", ["transductive", "running"])
@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_meta_gradients_equal_learn2learn_conv4(cls, bn, steps):
    ref, vec = learner_pair(cls, bn, steps)
    batch = tasks()
    assert not ref.combines_tasks and vec.combines_tasks  # the loop hands vec whole meta-batches
    loss_r = learn2learn_step(ref, batch)
    out = vec.meta_batch_loss(batch, 3)
    out["loss"].backward()
    torch.testing.assert_close(out["loss"].detach(), loss_r, **TOL)
    assert_same_state(ref, vec, **TOL)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in vec.backbone.parameters())
    if bn == "running":  # the running statistics moved, 4 tasks x (steps + 1) or (2 for ANIL) times
        bn0 = vec.backbone.blocks[0][1]
        assert int(bn0.num_batches_tracked) == 4 * (2 if cls is ANIL else steps + 1)
        assert bn0.running_mean.abs().sum() > 0


@pytest.mark.parametrize("bn", ["transductive", "running"])
def test_other_backbones_go_through_vmap(bn):
    """A backbone the grouped form does not know (here a plain Sequential with BatchNorm) runs
    through vmap(functional_call), with the same meta-gradients and running statistics."""
    from fewshot.learners import _grouped

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(4),
                        nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten())
    ref = MAML(net, feature_dim=4, n_way=3, inner_steps=2, inner_lr=0.1, bn=bn).double()
    assert not _grouped.supports(ref._adaptable())
    vec = copy.deepcopy(ref)
    vec.engine = "vectorised"
    batch = tasks()
    learn2learn_step(ref, batch)
    vec.meta_batch_loss(batch, 3)["loss"].backward()
    assert_same_state(ref, vec, **TOL)
    if bn == "running":
        assert int(vec.backbone[1].num_batches_tracked) == 4 * 3


@pytest.mark.parametrize("pool", ["flatten", "avg"])
def test_meta_gradients_equal_learn2learn_on_larger_feature_maps(pool):
    """32x32 inputs leave 2x2 maps after Conv4: the flattened features' (C, h, w) order matters."""
    torch.manual_seed(0)
    ref = MAML(Conv4(1, 8, pool=pool), feature_dim=32 if pool == "flatten" else 8, n_way=3, inner_steps=2,
               inner_lr=0.1, bn="running").double()
    vec = copy.deepcopy(ref)
    vec.engine = "vectorised"
    batch = tasks(n_tasks=3, k=1, q=2, size=32)
    learn2learn_step(ref, batch)
    vec.meta_batch_loss(batch, 3)["loss"].backward()
    assert_same_state(ref, vec, **TOL)


@pytest.mark.parametrize("bn", ["transductive", "running"])
@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_meta_gradients_equal_learn2learn_resnet12(cls, bn):
    ref, vec = learner_pair(cls, bn, 2, backbone="resnet12")
    batch = tasks(n_tasks=4, k=1, q=2)
    learn2learn_step(ref, batch)
    vec.meta_batch_loss(batch, 3)["loss"].backward()
    assert_same_state(ref, vec, **TOL)


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_meta_batch_equals_hand_unrolled(cls, steps):
    """Meta-batch of 4 on the small MLP of test_maml.py: the mean of the hand-unrolled
    meta-gradients (theta_{t+1} = theta_t - lr * grad, written out with autograd)."""
    learner = mlp_learner(cls, inner_steps=steps, engine="vectorised")
    if cls is MetaSGD:
        with torch.no_grad():
            for i, lr in enumerate(learner.inner_lrs):
                lr.uniform_(0.05, 0.5, generator=torch.Generator().manual_seed(i))
    g = torch.Generator().manual_seed(11)
    batch = []
    for _ in range(4):
        ys, yq = torch.arange(3).repeat_interleave(2), torch.arange(3).repeat_interleave(3)
        batch.append((torch.randn(6, 4, generator=g, dtype=torch.float64), ys,
                      torch.randn(9, 4, generator=g, dtype=torch.float64), yq))
    out = learner.meta_batch_loss(batch, 3)
    out["loss"].backward()
    adapt = (2, 3) if cls is ANIL else (0, 1, 2, 3)
    lrs = list(learner.inner_lrs) if cls is MetaSGD else None
    refs = [unrolled(learner, *task, steps, cls is not FOMAML, adapt=adapt, lrs=lrs) for task in batch]
    want_loss = torch.stack([r[0] for r in refs]).mean()
    want = [torch.stack(gs).mean(0) for gs in zip(*[r[1] for r in refs])]
    params = [learner.backbone[0].weight, learner.backbone[0].bias, learner.head.weight, learner.head.bias]
    params += list(learner.inner_lrs) if cls is MetaSGD else []
    torch.testing.assert_close(out["loss"].detach(), want_loss, **TOL)
    for p, w in zip(params, want):
        torch.testing.assert_close(p.grad, w, **TOL)


def test_first_and_second_order_differ_on_the_vectorised_engine():
    batch = tasks()
    grads = {}
    for cls in (MAML, FOMAML):
        _, vec = learner_pair(cls, "transductive", 2)
        vec.meta_batch_loss(batch, 3)["loss"].backward()
        grads[cls] = vec.backbone.blocks[0][0].weight.grad
    assert (grads[MAML] - grads[FOMAML]).abs().max() > 1e-4


def eval_episodes(n=7, n_way=3, k=2, q=3, seed=5):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(n, n_way * k, 1, 16, 16, generator=g, dtype=torch.float64)
    xq = torch.randn(n, n_way * q, 1, 16, 16, generator=g, dtype=torch.float64)
    ys = torch.arange(n_way).repeat_interleave(k).repeat(n, 1)
    yq = torch.arange(n_way).repeat_interleave(q).repeat(n, 1)
    return xs, ys, xq, yq


def per_episode(learner, xs, ys, xq):
    """Evaluation's per-episode path (fewshot/evaluation/evaluate.py): fit_support then forward."""
    out = []
    for e in range(len(xs)):
        with torch.enable_grad():
            learner.fit_support(xs[e], ys[e], 3)
        with torch.no_grad():
            out.append(learner(xq[e]))
    return torch.stack(out)


@pytest.mark.parametrize("chunk", [1, 3, None])
@pytest.mark.parametrize("bn", ["transductive", "running"])
@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_batched_evaluation_gives_the_per_episode_accuracies(cls, bn, chunk):
    ref, vec = learner_pair(cls, bn, 2)
    ref.eval_inner_steps = vec.eval_inner_steps = 3
    if bn == "running":  # fill the running statistics first, identically
        learn2learn_step(ref, tasks(seed=1))
        vec.meta_batch_loss(tasks(seed=1), 3)
    ref.eval()
    vec.eval()
    xs, ys, xq, yq = eval_episodes()
    want = per_episode(ref, xs, ys, xq)
    got = vec.adapt_many(xs, ys, xq, 3, chunk=chunk)
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8)
    assert torch.equal((got.argmax(-1) == yq).double().mean(1), (want.argmax(-1) == yq).double().mean(1))
    # the learn2learn engine's adapt_many is the per-episode loop itself
    torch.testing.assert_close(ref.adapt_many(xs, ys, xq, 3), want, rtol=0, atol=0)
    # and the vectorised fit_support / forward agree with both
    torch.testing.assert_close(per_episode(vec, xs, ys, xq), want, rtol=1e-8, atol=1e-8)
    assert vec.backbone.blocks[0][0].weight.grad is None  # evaluation leaves the meta-parameters alone


def trained_anil_pair(seed, eval_steps=None):
    """ANIL with running BatchNorm on both engines after one identical meta-step, in eval mode."""
    ref, vec = learner_pair(ANIL, "running", 2)
    if eval_steps is not None:
        ref.eval_inner_steps = vec.eval_inner_steps = eval_steps
    learn2learn_step(ref, tasks(seed=seed))
    vec.meta_batch_loss(tasks(seed=seed), 3)
    return ref.eval(), vec.eval()


def test_anil_cached_features_path_on_the_vectorised_engine():
    ref, vec = trained_anil_pair(2)
    xs, ys, xq, _ = eval_episodes(n=1)
    with torch.no_grad():
        want = ref.logits_from_features(ref.embed(xs[0]), ys[0], ref.embed(xq[0]), 3)
        got = vec.logits_from_features(vec.embed(xs[0]), ys[0], vec.embed(xq[0]), 3)
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8)


def test_mixed_shapes_in_a_meta_batch_are_refused():
    _, vec = learner_pair(MAML, "transductive", 1)
    batch = tasks(n_tasks=2) + tasks(n_tasks=1, k=3)
    with pytest.raises(ValueError, match="model.options.engine: learn2learn"):
        vec.meta_batch_loss(batch, 3)


def test_engine_option_is_validated():
    with pytest.raises(ValueError, match=r"model.options.engine.*'learn2learn', 'vectorised'.*'jax'"):
        MAML(nn.Identity(), feature_dim=4, engine="jax")
    learner = create_learner("metasgd", Conv4(1, 8), feature_dim=8, engine="vectorised")
    assert learner.engine == "vectorised" and learner.combines_tasks
    with pytest.raises(ValueError, match="chunk"):
        learner.eval().adapt_many(*eval_episodes(n=2)[:3], 3, chunk=0)


def test_learn2learn_interop_maml_wrapper_on_our_backbone_fed_by_our_sampler():
    """learn2learn's own MAML wrapper around a fewshot backbone, on episodes from fewshot's sampler,
    gives the meta-gradient the vectorised engine gives."""
    import learn2learn as l2l
    import numpy as np

    from episodes import EpisodeSampler
    from fewshot.learners.maml import _Classifier

    torch.manual_seed(0)
    images = torch.randn(40, 1, 16, 16, dtype=torch.float64)
    labels = np.repeat(np.arange(8), 5)
    sampler = EpisodeSampler(labels, n_way=3, k_shot=2, n_query=2, n_episodes=4, seed=0)
    batch = []
    for episode in sampler.iter_episodes():
        x = images[torch.from_numpy(episode.indices)]
        n_s = episode.spec.support_size
        ys, yq = torch.arange(3).repeat_interleave(2), torch.arange(3).repeat_interleave(2)
        batch.append((x[:n_s], ys, x[n_s:], yq))
    _, vec = learner_pair(MAML, "transductive", 2)
    model = copy.deepcopy(_Classifier(vec.backbone, vec.head))
    maml = l2l.algorithms.MAML(model, lr=0.1)
    for xs, ys, xq, yq in batch:
        clone = maml.clone()
        for _ in range(2):
            clone.adapt(nn.functional.cross_entropy(clone(xs), ys))
        (nn.functional.cross_entropy(clone(xq), yq) / len(batch)).backward()
    vec.meta_batch_loss(batch, 3)["loss"].backward()
    for (k, p), q in zip(model.named_parameters(), vec._adaptable().parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=k, **TOL)


@pytest.mark.parametrize("kind", ["mlti", "ibi"])
def test_task_interpolation_on_the_vectorised_engine(kind):
    """Task interpolation adapts through learn2learn whatever the engine (documented rule): same
    loss and gradients on both engines, and evaluation of the wrapped learner is vectorised."""
    from fewshot.interpolation import InterpolatedLearner

    options = {"layer": 1} if kind == "mlti" else {"layers": 1, "eps": 0.1}
    results = {}
    for engine in ("learn2learn", "vectorised"):
        torch.manual_seed(0)
        inner = MAML(Conv4(1, 8), feature_dim=8, n_way=3, inner_steps=2, inner_lr=0.1, engine=engine).double()
        wrapped = InterpolatedLearner(inner, kind, total_episodes=10, input_std=[0.5], **options)
        torch.manual_seed(1)
        out = wrapped.meta_batch_loss(tasks(n_tasks=2), 3)
        out["loss"].backward()
        wrapped.eval()
        xs, ys, xq, _ = eval_episodes(n=2)
        logits = per_episode(wrapped, xs, ys, xq)
        results[engine] = (out["loss"].detach(), inner.backbone.blocks[0][0].weight.grad, logits)
    for a, b in zip(results["learn2learn"], results["vectorised"]):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("learner", ["maml", "anil"])
def test_killed_and_resumed_vectorised_run_equals_uninterrupted(tmp_path, learner):
    """test_resume.py's replay: the snapshot of episode 6 (meta-batches of 2) restored as
    last.pt, resumed, equals the uninterrupted run (weights, optimiser, running statistics, log)."""
    import shutil

    import tiny_run  # noqa: F401  (registers the "tiny" data set)
    from test_resume import assert_same_run

    from fewshot.config import load_config
    from fewshot.engine.trainer import train
    from fewshot.runs.checkpoint import load_checkpoint

    cfg = load_config(tiny_run.write_config(tmp_path), [
        f"run.out_dir={tmp_path}", f"model.learner={learner}", "model.options.engine=vectorised",
        "model.options.bn=running", "model.options.inner_steps=2", "train.n_way=3", "train.episodes=12",
        "train.meta_batch=2", "train.ckpt_every=2", "train.keep_last=6", "train.val_every=6",
        "train.val_episodes=2", "train.log_every=2"])
    full = tmp_path / "full"
    train(cfg, full)
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    ckpt = cut / "checkpoints"
    shutil.copy(ckpt / "episode-0000006.pt", ckpt / "last.pt")
    assert load_checkpoint(ckpt / "last.pt")["episode"] == 6
    train(cfg, cut, resume=True)
    assert_same_run(cut, full)
    state = load_checkpoint(full / "checkpoints" / "last.pt")["model"]
    assert any("running_mean" in k for k in state)


@pytest.mark.parametrize("chunk", [2, None])
def test_anil_batched_feature_cached_evaluation(chunk):
    """E episodes of cached features adapted at once give the per-episode head's logits."""
    ref, vec = trained_anil_pair(3, eval_steps=4)
    xs, ys, xq, yq = eval_episodes(n=5)
    with torch.no_grad():
        zs, zq = ref.embed(xs.flatten(0, 1)).view(5, 6, -1), ref.embed(xq.flatten(0, 1)).view(5, 9, -1)
    want = torch.stack([ref.logits_from_features(zs[e], ys[e], zq[e], 3) for e in range(5)])
    got = vec.logits_from_features_many(zs, ys, zq, 3, chunk=chunk)
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8)
    assert torch.equal(got.argmax(-1), want.argmax(-1))
    torch.testing.assert_close(ref.logits_from_features_many(zs, ys, zq, 3), want, rtol=0, atol=0)


def test_automatic_chunk_follows_the_memory_budget():
    """auto_chunk counts the leaf modules' outputs of one image: Conv4(1, 8) on 16x16 float64 keeps
    8 x (16^2 + 16^2 + 16^2 + 8^2 + ...) values per block; three copies (forward, saved, gradients)."""
    from fewshot.learners.functional_maml import auto_chunk

    net = Conv4(1, 8).double()
    x = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    per_image = 0
    for side in (16, 8, 4, 2):  # conv, BN, ReLU at this side; max-pool halves it
        per_image += 3 * 8 * side * side + 8 * (side // 2) ** 2
    per_image *= 8  # bytes per float64
    per_episode = 3 * 10 * per_image  # 10 images per episode
    assert auto_chunk(net, x, 10, budget=7 * per_episode) == 7
    assert auto_chunk(net, x, 10, budget=7 * per_episode - 1) == 6
    assert auto_chunk(net, x, 10, budget=1) == 1


@pytest.mark.parametrize("name", ["maml", "fomaml", "anil", "metasgd"])
def test_contract_through_build_learner_on_the_vectorised_engine(name):
    """test_learner_contract.py's shape / gradient / determinism checks, the learner built from a
    config with model.options.engine: vectorised (the CLI's path)."""
    from test_learner_contract import CASES, build, make_episode, predict

    for n, k, q in CASES:
        learner = build(name, n, engine="vectorised")
        assert learner.engine == "vectorised"
        support, ys, query, yq = make_episode(n, k, q)
        learner.train()
        out = learner.episode_loss(support, ys, query, yq, n)
        assert torch.isfinite(out["loss"]) and out["loss"].requires_grad
        out["loss"].backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.backbone.parameters())
        logits = predict(learner, support, ys, query, n)
        assert logits.shape == (n * q, n) and torch.isfinite(logits).all()
        again = predict(build(name, n, engine="vectorised"), support, ys, query, n)
        torch.testing.assert_close(predict(build(name, n), support, ys, query, n), again, rtol=1e-4, atol=1e-4)


def test_meta_batch_loss_in_evaluation_mode_keeps_its_meta_gradient():
    """episode_loss in eval mode (eval_inner_steps, no running-statistics updates) is still the
    differentiable outer loss on both engines."""
    ref, vec = learner_pair(MAML, "running", 1)
    ref.eval_inner_steps = vec.eval_inner_steps = 3
    learn2learn_step(ref, tasks(seed=4))
    vec.meta_batch_loss(tasks(seed=4), 3)
    ref.zero_grad()
    vec.zero_grad()
    ref.eval()
    vec.eval()
    batch = tasks(seed=6)
    loss_r = learn2learn_step(ref, batch)
    out = vec.meta_batch_loss(batch, 3)
    out["loss"].backward()
    torch.testing.assert_close(out["loss"].detach(), loss_r, **TOL)
    assert_same_state(ref, vec, **TOL)


@pytest.mark.parametrize("chunk", [1, 4, None])
def test_evaluate_hands_episodes_to_adapt_many_and_gives_the_per_episode_accuracies(chunk):
    """fewshot.evaluation.evaluate: the vectorised engine adapts eval.chunk episodes at once and
    every per-episode accuracy equals the learn2learn engine's episode-by-episode result."""
    import numpy as np

    from episodes import EpisodeSampler
    from fewshot.data.base import ImageSplit
    from fewshot.evaluation.evaluate import evaluate
    from fewshot.runs.inputs import Normalizer

    g = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 8)
    centres = g.integers(40, 200, (6, 1, 1))
    images = np.clip(centres[labels] + g.normal(0, 30, (len(labels), 16, 16)), 0, 255).astype(np.uint8)
    split = ImageSplit(images, labels, [str(c) for c in range(6)], "toy/test")
    ref, vec = learner_pair(MAML, "transductive", 2)
    ref, vec = ref.float(), vec.float()
    norm = Normalizer([0.5], [0.25])

    def run(learner, c):
        sampler = EpisodeSampler(labels, n_way=3, k_shot=2, n_query=3, n_episodes=9, seed=4, advance_epoch=False)
        return evaluate(learner, split, norm, sampler, feature_cache=False, chunk=c).accuracies

    want = run(ref, 1)
    np.testing.assert_array_equal(run(ref, chunk), want)  # learn2learn: the chunk changes nothing
    np.testing.assert_array_equal(run(vec, chunk), want)

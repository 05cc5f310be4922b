"""MAML family: meta-gradients against hand-unrolled and analytic computations, BatchNorm modes,
head sizing, evaluation steps, and the whole `fewshot train` path on a tiny data set."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.learners import ANIL, FOMAML, MAML, MetaSGD

ALPHA = 0.3


@pytest.fixture(params=["learn2learn", "vectorised"])
def engine(request):
    """model.options.engine: every reference below is checked on both engines."""
    return request.param


def episode(n_way=3, k=2, q=2, d=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(n_way * k, d, generator=g, dtype=dtype)
    xq = torch.randn(n_way * q, d, generator=g, dtype=dtype)
    return xs, torch.arange(n_way).repeat_interleave(k), xq, torch.arange(n_way).repeat_interleave(q)


def mlp_learner(cls, n_way=3, d=4, hidden=3, seed=0, **kw):
    """backbone Linear(d, hidden) + tanh, head Linear(hidden, n_way), float64, no BatchNorm."""
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Linear(d, hidden), nn.Tanh())
    return cls(backbone, feature_dim=hidden, n_way=n_way, inner_lr=ALPHA, **kw).double()


def forward(params, x):
    w1, b1, w2, b2 = params
    return torch.tanh(x @ w1.t() + b1) @ w2.t() + b2


def unrolled(learner, xs, ys, xq, yq, steps, second_order, adapt=(0, 1, 2, 3), lrs=None):
    """The meta-gradient written out: theta_{t+1} = theta_t - lr * grad L_s(theta_t) for the
    adapted parameters, outer loss L_q(theta_T), d L_q / d theta_0 (and d / d lrs)."""
    theta0 = [p.detach().clone().requires_grad_(True) for p in
              (learner.backbone[0].weight, learner.backbone[0].bias, learner.head.weight, learner.head.bias)]
    lrs = [lr.detach().clone().requires_grad_(True) for lr in lrs] if lrs is not None else None
    theta = list(theta0)
    for _ in range(steps):
        inner = F.cross_entropy(forward(theta, xs), ys)
        grads = torch.autograd.grad(inner, [theta[i] for i in adapt], create_graph=second_order)
        for j, (i, g) in enumerate(zip(adapt, grads)):
            lr = ALPHA if lrs is None else lrs[j]
            theta[i] = theta[i] - lr * (g if second_order else g.detach())
    outer = F.cross_entropy(forward(theta, xq), yq)
    wrt = theta0 + (lrs or [])
    return outer.detach(), torch.autograd.grad(outer, wrt)


def learner_grads(learner, xs, ys, xq, yq, n_way=3):
    out = learner.episode_loss(xs, ys, xq, yq, n_way)
    out["loss"].backward()
    params = [learner.backbone[0].weight, learner.backbone[0].bias, learner.head.weight, learner.head.bias]
    if isinstance(learner, MetaSGD):
        params += list(learner.inner_lrs)
    return out["loss"].detach(), [p.grad for p in params]


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("cls, second_order", [(MAML, True), (FOMAML, False)])
def test_maml_meta_gradient_matches_hand_unrolled(cls, second_order, steps, engine):
    xs, ys, xq, yq = episode()
    learner = mlp_learner(cls, inner_steps=steps, engine=engine)
    loss, grads = learner_grads(learner, xs, ys, xq, yq)
    want_loss, want = unrolled(learner, xs, ys, xq, yq, steps, second_order)
    torch.testing.assert_close(loss, want_loss)
    for g, w in zip(grads, want):
        torch.testing.assert_close(g, w)


def test_first_and_second_order_differ():
    """The test above could not tell MAML from FOMAML if the second-order term were negligible."""
    xs, ys, xq, yq = episode()
    _, so = learner_grads(mlp_learner(MAML, inner_steps=2), xs, ys, xq, yq)
    _, fo = learner_grads(mlp_learner(FOMAML, inner_steps=2), xs, ys, xq, yq)
    assert (so[0] - fo[0]).abs().max() > 1e-3


def test_anil_adapts_only_the_head(engine):
    xs, ys, xq, yq = episode()
    learner = mlp_learner(ANIL, inner_steps=2, engine=engine)
    loss, grads = learner_grads(learner, xs, ys, xq, yq)
    want_loss, want = unrolled(learner, xs, ys, xq, yq, 2, True, adapt=(2, 3))
    torch.testing.assert_close(loss, want_loss)
    for g, w in zip(grads, want):
        torch.testing.assert_close(g, w)


def test_metasgd_learns_per_weight_step_sizes(engine):
    xs, ys, xq, yq = episode()
    learner = mlp_learner(MetaSGD, inner_steps=1, engine=engine)
    with torch.no_grad():  # different step sizes per weight, so a scalar-lr bug would show
        for i, lr in enumerate(learner.inner_lrs):
            lr.uniform_(0.05, 0.5, generator=torch.Generator().manual_seed(i))
    loss, grads = learner_grads(learner, xs, ys, xq, yq)
    want_loss, want = unrolled(learner, xs, ys, xq, yq, 1, True, lrs=list(learner.inner_lrs))
    torch.testing.assert_close(loss, want_loss)
    assert len(grads) == 8
    for g, w in zip(grads, want):
        torch.testing.assert_close(g, w)


def test_one_step_maml_matches_closed_form_for_softmax_regression(engine):
    """Linear model z -> W z + b: grad L = (P - Y)^T X~ / m and Hessian
    H = 1/m sum_i (diag p_i - p_i p_i^T) (x) x~_i x~_i^T, so the MAML meta-gradient is
    (I - alpha H_s) grad L_q(theta') and the first-order one grad L_q(theta'). No autograd."""
    xs, ys, xq, yq = episode(n_way=3, k=2, q=3, d=4, seed=5)
    for cls in (MAML, FOMAML):
        torch.manual_seed(1)
        learner = cls(nn.Identity(), feature_dim=4, n_way=3, inner_steps=1, inner_lr=ALPHA, engine=engine).double()
        theta = torch.cat([learner.head.weight, learner.head.bias[:, None]], 1).detach()  # (C, d+1)

        def grad_and_probs(theta, x, y):
            xt = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
            p = torch.softmax(xt @ theta.t(), 1)
            return (p - F.one_hot(y, 3).to(x.dtype)).t() @ xt / len(x), p, xt

        gs, ps, xts = grad_and_probs(theta, xs, ys)
        gq, _, _ = grad_and_probs(theta - ALPHA * gs, xq, yq)
        a = torch.diag_embed(ps) - ps[:, :, None] * ps[:, None, :]  # (m, C, C)
        hessian = torch.einsum("icd,ij,ik->cjdk", a, xts, xts) / len(xs)
        want = gq - ALPHA * torch.einsum("cjdk,dk->cj", hessian, gq) if cls is MAML else gq
        learner.episode_loss(xs, ys, xq, yq, 3)["loss"].backward()
        got = torch.cat([learner.head.weight.grad, learner.head.bias.grad[:, None]], 1)
        torch.testing.assert_close(got, want)


def test_evaluation_uses_eval_inner_steps(engine):
    xs, ys, xq, _ = episode()
    learner = mlp_learner(MAML, inner_steps=1, eval_inner_steps=4, engine=engine).eval()
    with torch.enable_grad():
        learner.fit_support(xs, ys, 3)
    with torch.no_grad():
        got = learner(xq)
    theta = [p.detach().clone().requires_grad_(True) for p in
             (learner.backbone[0].weight, learner.backbone[0].bias, learner.head.weight, learner.head.bias)]
    for _ in range(4):
        grads = torch.autograd.grad(F.cross_entropy(forward(theta, xs), ys), theta)
        theta = [(t - ALPHA * g).detach().requires_grad_(True) for t, g in zip(theta, grads)]
    torch.testing.assert_close(got, forward(theta, xq).detach())
    # the meta-parameters themselves are untouched by adaptation
    assert learner.backbone[0].weight.grad is None


def test_fit_support_needs_gradients(engine):
    xs, ys, _, _ = episode()
    learner = mlp_learner(MAML, engine=engine)
    with torch.no_grad(), pytest.raises(RuntimeError, match="enable_grad"):
        learner.fit_support(xs, ys, 3)


def test_head_sizing(engine):
    xs, ys, xq, yq = episode(n_way=2)
    learner = mlp_learner(MAML, n_way=5, engine=engine)
    out = learner.episode_loss(xs, ys, xq, yq, 2)  # fewer ways: the first two outputs
    assert torch.isfinite(out["loss"])
    learner.eval()
    with torch.enable_grad():
        learner.fit_support(xs, ys, 2)
    assert learner(xq).shape == (len(xq), 2)
    xs, ys, xq, yq = episode(n_way=6)
    with pytest.raises(ValueError, match="train.n_way >= 6"):
        learner.episode_loss(xs, ys, xq, yq, 6)


@pytest.mark.parametrize("kwargs, needle", [({"bn": "batch"}, "bn must be"), ({"inner_steps": 0}, "inner_steps"),
                                            ({"inner_lr": 0.0}, "inner_lr"), ({"eval_inner_steps": 1.5}, "eval_inner")])
def test_bad_options(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        MAML(nn.Identity(), feature_dim=4, **kwargs)


def conv_learner(cls, bn, seed=0, engine="learn2learn"):
    from fewshot.backbones import Conv4

    torch.manual_seed(seed)
    return cls(Conv4(1, 4), feature_dim=4, n_way=3, inner_steps=2, inner_lr=0.1, bn=bn, engine=engine)


@pytest.mark.parametrize("cls", [MAML, ANIL])
def test_batchnorm_modes(cls, engine):
    g = torch.Generator().manual_seed(0)
    xs, xq = torch.randn(6, 1, 16, 16, generator=g), torch.randn(6, 1, 16, 16, generator=g)
    ys = torch.arange(3).repeat_interleave(2)
    changed = xq.clone()
    changed[1:] = torch.randn(5, 1, 16, 16, generator=g)
    first_query_logits = {}
    for bn in ("transductive", "running"):
        learner = conv_learner(cls, bn, engine=engine)
        keys = list(learner.state_dict())
        assert any("running_mean" in k for k in keys) == (bn == "running")
        assert learner.transductive == (bn == "transductive")
        learner.episode_loss(xs, ys, xq, ys, 3)  # training mode
        if bn == "running":  # training updates the running statistics
            assert learner.backbone.blocks[0][1].running_mean.abs().sum() > 0
        learner.eval()
        for name, query in (("same", xq), ("changed", changed)):
            with torch.enable_grad():
                learner.fit_support(xs, ys, 3)
            with torch.no_grad():
                first_query_logits[bn, name] = learner(query)[0]
    # with batch statistics a query's prediction depends on the other queries; with running ones not
    assert not torch.allclose(first_query_logits["transductive", "same"], first_query_logits["transductive", "changed"])
    torch.testing.assert_close(first_query_logits["running", "same"], first_query_logits["running", "changed"])


def test_anil_feature_cache_only_with_running_batchnorm():
    assert not conv_learner(ANIL, "transductive").uses_features
    assert not conv_learner(MAML, "running").uses_features
    learner = conv_learner(ANIL, "running")
    assert learner.uses_features
    g = torch.Generator().manual_seed(3)
    xs, xq = torch.randn(6, 1, 16, 16, generator=g), torch.randn(9, 1, 16, 16, generator=g)
    ys = torch.arange(3).repeat_interleave(2)
    learner.episode_loss(xs, ys, xq, torch.arange(3).repeat_interleave(3), 3)  # fill running statistics
    learner.eval()
    with torch.enable_grad():
        learner.fit_support(xs, ys, 3)
    with torch.no_grad():  # evaluation's cached path: features first, head adapted on them
        from_images = learner(xq)
        cached = learner.logits_from_features(learner.embed(xs), ys, learner.embed(xq), 3)
    torch.testing.assert_close(cached, from_images)


def test_train_and_eval_through_the_cli(tmp_path):
    """`fewshot train` with a MAML-family config, then `fewshot eval` on the checkpoint."""
    sys.path.insert(0, str(Path(__file__).parent))
    import tiny_run

    from fewshot.cli import main

    cfg = tiny_run.write_config(tmp_path)
    for name in ("metasgd",):  # MAML plus learnt step sizes: the most state to save and load
        args = ["train", str(cfg), f"model.learner={name}", "train.n_way=3", "train.episodes=4",
                "train.meta_batch=2", "train.val_every=4", "train.ckpt_every=4", "model.options.inner_steps=1",
                f"run.out_dir={tmp_path}", f"run.name={name}", "train.tensorboard=false"]
        assert main(args + ["--no-eval"]) == 0
        assert main(["eval", str(tmp_path / name), "--quiet", "--episodes", "3"]) == 0

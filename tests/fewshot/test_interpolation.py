"""Interval bound propagation, IBI and MLTI with learners (fewshot.interpolation)."""

import copy
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from fewshot.backbones import Conv4, ResNet12
from fewshot.backbones.conv4 import conv_block
from fewshot.backbones.resnet12 import ResBlock
from fewshot.interpolation import (
    EpsSchedule,
    HiddenMix,
    InterpolatedLearner,
    block_bounds,
    bound_losses,
    interpolate_bounds,
    propagate,
    softmax_weighted,
    wrap_interpolation,
)
from fewshot.learners import ProtoNet

DIMS = {1: (0,), 2: (0,), 3: (0, 2), 4: (0, 2, 3)}


def clean_stats_reference(module, x):
    """A copy of ``module`` whose BatchNorms use the statistics of the clean batch ``x`` (the
    function interval bounds describe), evaluated pointwise: f(points) does not depend on
    the batch the points come in."""
    stats = {}
    hooks = []
    for name, m in module.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            def record(mod, inputs, name=name):
                t = inputs[0]
                dims = [0] + list(range(2, t.dim()))
                stats[name] = (t.mean(dims), t.var(dims, unbiased=False))
            hooks.append(m.register_forward_pre_hook(record))
    was_training = module.training
    probe = copy.deepcopy(module)
    with torch.no_grad():
        probe(x)  # records statistics as the clean pass sees them (train or eval)
    for h in hooks:
        h.remove()
    ref = copy.deepcopy(module)
    for name, m in ref.named_modules():
        if name in stats and (was_training or m.running_mean is None):
            m.running_mean, m.running_var = (s.clone() for s in stats[name])
            m.track_running_stats = True
    ref.eval()
    for h in list(ref._forward_pre_hooks):
        ref._forward_pre_hooks.pop(h)
    for m in ref.modules():
        m._forward_pre_hooks.clear()
    return ref


def check_contains(module, x, eps, n_points=64, seed=0):
    """Bounds from ``propagate`` contain f(p) for random points and random corners of the box."""
    module = module.double()
    x = x.double()
    ref = clean_stats_reference(module, x)
    with torch.no_grad():
        z, lower, upper = propagate(module, x, x - eps, x + eps)
        g = torch.Generator().manual_seed(seed)
        tol = 1e-9 * (1 + upper.abs().max())
        for i in range(n_points):
            if i % 2:
                p = x + eps * (2 * torch.rand(x.shape, generator=g, dtype=x.dtype) - 1)
            else:  # a corner
                p = x + eps * (2 * torch.randint(0, 2, x.shape, generator=g).to(x.dtype) - 1)
            out = ref(p)
            assert (out >= lower - tol).all() and (out <= upper + tol).all()
        torch.testing.assert_close(ref(x), z)  # the reference is the clean function
    return z, lower, upper


LAYERS = {
    "conv": lambda: nn.Conv2d(3, 4, 3, padding=1),
    "conv-strided-nobias": lambda: nn.Conv2d(3, 4, 3, stride=2, bias=False),
    "linear": lambda: nn.Linear(12, 5),
    "batchnorm2d": lambda: nn.BatchNorm2d(3),
    "relu": nn.ReLU,
    "leakyrelu": lambda: nn.LeakyReLU(0.1),
    "maxpool": lambda: nn.MaxPool2d(2),
    "avgpool": lambda: nn.AvgPool2d(2),
    "flatten": nn.Flatten,
    "conv4-block": lambda: conv_block(3, 4),
    "resnet-block": lambda: ResBlock(3, 4),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("training", [True, False])
def test_bounds_contain_true_activations_for_every_layer(name, training):
    torch.manual_seed(0)
    module = LAYERS[name]()
    x = torch.randn(6, 12) if name == "linear" else torch.randn(6, 3, 8, 8)
    for m in module.modules():  # non-trivial BN affine and running statistics, some negative scales
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.data.uniform_(-1.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    module.train(training)
    check_contains(module, x, eps=0.1)


@pytest.mark.parametrize("drop", ["dropout", "dropblock", "resnet12-dropblock", "resnet12-dropout"])
def test_bounds_hold_through_dropout_and_dropblock(drop):
    """Under the random mask of this pass (the same seed for the bound pass and each forward),
    the bounds contain the block's output for points of the box; in eval mode the layers are
    the identity. Before, the ResNet-12 rule left DropBlock out (bounds of another network)."""
    from fewshot.backbones.dropblock import DropBlock

    torch.manual_seed(0)
    module = {"dropout": lambda: nn.Dropout(0.3), "dropblock": lambda: DropBlock(0.3, 3, schedule_steps=0),
              "resnet12-dropblock": lambda: ResBlock(3, 4, drop=DropBlock(0.3, 3, schedule_steps=0)),
              "resnet12-dropout": lambda: ResBlock(3, 4, drop=nn.Dropout(0.3))}[drop]().double().train()
    x, eps = torch.randn(6, 3, 8, 8, dtype=torch.float64), 0.1
    with torch.no_grad():
        torch.manual_seed(11)
        z, lower, upper = propagate(module, x, x - eps, x + eps)
        torch.manual_seed(11)
        torch.testing.assert_close(z, module(x))  # the clean activations of this pass
        assert (upper - lower).min() >= 0
        g = torch.Generator().manual_seed(1)
        for _ in range(16):
            p = x + eps * (2 * torch.rand(x.shape, generator=g, dtype=x.dtype) - 1)
            torch.manual_seed(11)
            out = module(p)
            assert (out >= lower - 1e-9).all() and (out <= upper + 1e-9).all()
        dropped = (z == 0).float().mean()
        assert dropped > 0.05  # the mask did drop something
        module.eval()
        z, lower, upper = propagate(module, x, x - eps, x + eps)
        torch.testing.assert_close(z, module(x))


def test_batchnorm1d_bounds_and_eval_running_stats():
    torch.manual_seed(1)
    bn = nn.BatchNorm1d(5)
    bn.weight.data.uniform_(-1, 1)
    check_contains(bn.train(), torch.randn(7, 5), eps=0.2)
    check_contains(bn.eval(), torch.randn(7, 5), eps=0.2)


def test_linear_bounds_are_tight_at_the_box_corners():
    """For one affine layer the interval bound is exact: some corner attains it."""
    torch.manual_seed(2)
    lin = nn.Linear(3, 4).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    _, lower, upper = propagate(lin, x, x - 0.3, x + 0.3)
    corners = torch.tensor(list(itertools.product([-0.3, 0.3], repeat=3)), dtype=torch.float64)
    with torch.no_grad():
        outs = torch.stack([lin(x + c) for c in corners])  # (8, 2, 4)
    torch.testing.assert_close(outs.max(0).values, upper)
    torch.testing.assert_close(outs.min(0).values, lower)


@pytest.mark.parametrize("backbone", ["conv4", "resnet12"])
@pytest.mark.parametrize("stop", [1, 2, 4])
def test_backbone_bounds_contain_activations_and_collapse_at_eps_zero(backbone, stop):
    torch.manual_seed(3)
    net = Conv4(1, 6) if backbone == "conv4" else ResNet12(1, (4, 5, 6, 7))
    net = net.double().train()
    x = torch.randn(5, 1, 16, 16, dtype=torch.float64)
    ref = clean_stats_reference(net, x)
    with torch.no_grad():
        z, lower, upper = block_bounds(net, x, 0.05, stop)
        torch.testing.assert_close(z, ref.forward_from(x, 0, stop))
        torch.testing.assert_close(z, copy.deepcopy(net).forward_from(x, 0, stop))
        g = torch.Generator().manual_seed(4)
        for _ in range(16):
            p = x + 0.05 * (2 * torch.randint(0, 2, x.shape, generator=g).double() - 1)
            out = ref.forward_from(p, 0, stop)
            assert (out >= lower - 1e-9).all() and (out <= upper + 1e-9).all()
        z0, l0, u0 = block_bounds(net, x, 0.0, stop)
        torch.testing.assert_close(l0, z0)
        torch.testing.assert_close(u0, z0)


def test_resnet_rule_mirrors_the_block_forward():
    torch.manual_seed(5)
    block = ResBlock(2, 3).train()
    x = torch.randn(4, 2, 8, 8)
    clean = copy.deepcopy(block)(x)
    z, _, _ = propagate(block, x, x, x)
    torch.testing.assert_close(z, clean)


def test_unknown_layer_and_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="no interval bound rule"):
        propagate(nn.GELU(), torch.zeros(1), torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match="layers"):
        block_bounds(Conv4(1, 4), torch.zeros(1, 1, 16, 16), 0.1, 5)


# ---- IBI math --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interpolate_bounds_matches_naive_loop(dtype):
    g = torch.Generator().manual_seed(6)
    z = torch.randn(12, 3, 4, generator=g, dtype=dtype)
    lower = z - torch.rand(12, 3, 4, generator=g, dtype=dtype)
    upper = z + torch.rand(12, 3, 4, generator=g, dtype=dtype)
    labels = torch.arange(4).repeat_interleave(3)
    lam = torch.rand(4, generator=g, dtype=dtype)
    pick = torch.tensor([1.0, 0.0, 1.0, 0.0])
    out = interpolate_bounds(z, lower, upper, labels, lam, pick)
    for n in range(12):
        c = int(labels[n])
        bound = upper[n] if pick[c] == 1 else lower[n]
        torch.testing.assert_close(out[n], (1 - lam[c]) * z[n] + lam[c] * bound)
    assert ((out >= lower - 1e-6) & (out <= upper + 1e-6)).all()  # stays inside the box


def test_bound_losses_softmax_weighting_and_eps_schedule():
    z = torch.zeros(2, 3)
    ub, lb = bound_losses(z, z - 1, z + 2)
    assert float(ub) == 4.0 and float(lb) == 1.0
    terms = [torch.tensor(1.0, requires_grad=True), torch.tensor(2.0), torch.tensor(3.0)]
    total, w = softmax_weighted(terms, 2.0)
    e = np.exp(np.array([1.0, 2.0, 3.0]) / 2.0)
    assert float(total.detach()) == pytest.approx(float((e / e.sum() * [1, 2, 3]).sum()))
    total.backward()
    # weights not detached: d total / d L_0 = w_0 (1 + (L_0 - total) / T), not w_0
    w0, t = float(w[0].detach()), float(total.detach())
    assert float(terms[0].grad) == pytest.approx(w0 * (1 + (1.0 - t) / 2.0))
    s = EpsSchedule(0.2, 1000)
    assert s(0) == 0 and s(450) == pytest.approx(0.1) and s(900) == 0.2 and s(999) == 0.2


# ---- learners with interpolation -------------------------------------------------------------
def episode_tasks(b=4, n_way=5, k=2, q=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    ys, yq = torch.arange(n_way).repeat_interleave(k), torch.arange(n_way).repeat_interleave(q)
    return [(torch.randn(n_way * k, 1, size, size, generator=g), ys,
             torch.randn(n_way * q, 1, size, size, generator=g), yq) for _ in range(b)]


def protonet(seed=0):
    torch.manual_seed(seed)
    return ProtoNet(Conv4(1, 8))


def maml(seed=0, **kw):
    pytest.importorskip("learn2learn")
    from fewshot.learners.maml import MAML

    torch.manual_seed(seed)
    return MAML(Conv4(1, 8), feature_dim=8, n_way=5, inner_steps=2, inner_lr=0.1, **kw)


def set_lambda(wrapped, value):
    """Replace MLTI's Beta draw by a constant lambda."""
    import dataclasses

    from episodes.interpolate import ConstantLambda

    wrapped.method.mixer = dataclasses.replace(wrapped.method.mixer, lam=ConstantLambda(value))


@pytest.mark.parametrize("make", [protonet, maml])
def test_plain_program_reproduces_the_learner(make):
    """The adapters' own loops (ProtoNet features, MAML inner loop) equal the learners' losses."""
    from fewshot.interpolation import Plain

    learner = make()
    wrapped = InterpolatedLearner(learner, "mlti")
    xs, ys, xq, yq = episode_tasks(b=1)[0]
    torch.manual_seed(1)
    want = learner.episode_loss(xs, ys, xq, yq, 5)
    torch.manual_seed(1)
    loss, logs = wrapped.adapter.task_loss(Plain(), (xs,), (ys,), (xq,), (yq,), 5, lambda ce, aux: ce)
    torch.testing.assert_close(loss, want["loss"])
    torch.testing.assert_close(logs["acc"], want["acc"])


@pytest.mark.parametrize("make, layer", [(protonet, 0), (protonet, 2), (protonet, 4), (maml, 0)])
def test_mlti_with_lambda_one_reproduces_the_original_tasks(make, layer):
    # ProtoNet in eval mode: BatchNorm statistics do not depend on the partner task (at hidden
    # layers anchor and partner share one pass). MAML normalises with batch statistics, so
    # it is compared at the input, where lambda = 1 leaves the images untouched.
    learner = make()
    if not hasattr(learner, "_algorithm"):
        learner.eval()
    wrapped = wrap_interpolation(learner, {"kind": "mlti", "layer": layer, "pairing": "random"})
    set_lambda(wrapped, 1.0)
    tasks = episode_tasks()
    torch.manual_seed(2)
    out = wrapped.meta_batch_loss(tasks, 5)
    torch.manual_seed(2)
    want = torch.stack([learner.episode_loss(*t, 5)["loss"] for t in tasks]).mean()
    torch.testing.assert_close(out["loss"], want)


def test_hidden_mix_mixes_representations_with_the_partner():
    from episodes.interpolate import MixLabels, Mixup

    net = Conv4(1, 8).eval()
    a, b = torch.randn(6, 1, 16, 16), torch.randn(6, 1, 16, 16)
    y = torch.arange(3).repeat_interleave(2)
    views, _ = HiddenMix(2, Mixup(), 0.3, np.random.default_rng(0), MixLabels(), 3)(net, (a, b), (y, y))
    with torch.no_grad():
        h = 0.3 * net.forward_from(a, 0, 2) + 0.7 * net.forward_from(b, 0, 2)
        torch.testing.assert_close(views[0].features, net.forward_from(h, 2))
    assert torch.equal(views[0].labels, y)


@pytest.mark.parametrize("make", [protonet, maml])
@pytest.mark.parametrize("kind", ["mlti", "ibi"])
def test_interpolation_is_actually_applied_when_enabled(make, kind, monkeypatch):
    """The released IBI code never interpolated (an empty index array); here every meta-batch
    interpolates (IBI: at least one task; MLTI: every task, at the input or a hidden layer),
    and the loss differs from training without interpolation."""
    import fewshot.interpolation.ibi as ibi_module
    from episodes.interpolate import MLTIMixer
    from fewshot.interpolation.mlti import HiddenMix as Hidden

    calls = []

    def spy(fn, tag):
        def wrapped(*args, **kwargs):
            calls.append(tag)
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(ibi_module, "interpolate_bounds", spy(ibi_module.interpolate_bounds, "bounds"))
    monkeypatch.setattr(MLTIMixer, "mix", spy(MLTIMixer.mix, "input"))
    monkeypatch.setattr(Hidden, "__call__", spy(Hidden.__call__, "hidden"))
    options = ({"kind": kind, "eps": 0.1, "eps_unit": "normalised"} if kind == "ibi"
               else {"kind": kind, "layer": "random"})
    wrapped = wrap_interpolation(make(), options)
    base = wrap_interpolation(make(), {**options, "kind": "ibp"} if kind == "ibi" else {})
    tasks = episode_tasks()
    for step in range(3):
        calls.clear()
        torch.manual_seed(step)
        out = wrapped.meta_batch_loss(tasks, 5)
        if kind == "ibi":
            assert float(out["mixed_tasks"]) >= 1 and "bounds" in calls
        else:
            assert float(out["mixed_tasks"]) == 4
            assert calls.count("input") == 1 or calls.count("hidden") >= 4  # once per meta-batch / per task
        torch.manual_seed(step)
        plain = (base.meta_batch_loss(tasks, 5)["loss"] if kind == "ibi"
                 else torch.stack([base.episode_loss(*t, 5)["loss"] for t in tasks]).mean())
        assert not torch.allclose(out["loss"], plain)


@pytest.mark.parametrize("make", [protonet, maml])
@pytest.mark.parametrize("options", [{"kind": "mlti", "layer": "random", "mix": "cutmix"},
                                     {"kind": "mlti", "layer": 4},
                                     {"kind": "ibi", "layers": 2, "tasks": "all", "eps_unit": "normalised"},
                                     {"kind": "ibp", "layers": 1, "eps_unit": "normalised"}])
def test_gradients_reach_the_backbone_and_evaluation_is_delegated(make, options):
    learner = make()
    wrapped = wrap_interpolation(learner, options, total_episodes=10)
    out = wrapped.meta_batch_loss(episode_tasks(b=2), 5)
    out["loss"].backward()
    grads = [p.grad for p in learner.backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert int(wrapped.episodes_seen) == 2  # the eps schedule's clock, kept in checkpoints
    assert wrapped.uses_features == learner.uses_features
    xs, ys, xq, _ = episode_tasks(b=1, seed=3)[0]
    learner.eval()
    with torch.enable_grad():
        wrapped.fit_support(xs, ys, 5)
        a = wrapped(xq)
        learner.fit_support(xs, ys, 5)
        b = learner(xq)
    torch.testing.assert_close(a, b)


def test_ibi_eps_follows_the_schedule_and_options_are_checked():
    wrapped = wrap_interpolation(protonet(), {"kind": "ibi", "eps": 0.2}, total_episodes=100, input_std=[0.3])
    seen = []
    for _ in range(3):
        seen.append(float(wrapped.meta_batch_loss(episode_tasks(b=2), 5)["eps"]))
    assert seen == pytest.approx([0.0, 0.2 * 2 / 90, 0.2 * 4 / 90])
    with pytest.raises(ValueError, match="kind"):
        wrap_interpolation(protonet(), {"layer": 0})
    with pytest.raises(ValueError, match="does not accept"):
        wrap_interpolation(protonet(), {"kind": "mlti", "epsilon": 1})
    with pytest.raises(ValueError, match="layers"):
        wrap_interpolation(protonet(), {"kind": "mlti", "layers": [7]})
    assert wrap_interpolation(protonet(), {}).__class__ is ProtoNet
    assert wrap_interpolation(protonet(), {"kind": "none", "layer": 0}).__class__ is ProtoNet


def test_ibi_eps_is_in_pixel_units_by_default():
    """The official code (SankhaSubhra/maml-ibp-ibi) builds the box x +- eps on [0, 1] pixels and
    feeds the network those pixels. Here the network sees normalised pixels (p - mean) / std, so
    the same box must reach it as the normalised images of p - eps and p + eps; eps_unit:
    normalised keeps the former unit (the box applied to the normalised inputs as given)."""
    import fewshot.interpolation.ibi as ibi_module
    from fewshot.runs.inputs import Normalizer

    mean, std = [0.2], [0.35]
    norm = Normalizer(mean, std)
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (4, 20, 28, 28), generator=g, dtype=torch.uint8)  # 4 tasks, 5x(1+3)
    x = norm(pixels.flatten(0, 1)).view(4, 20, 1, 28, 28)
    ys, yq = torch.arange(5), torch.arange(5).repeat_interleave(3)
    tasks = [(x[i, :5], ys, x[i, 5:], yq) for i in range(4)]
    boxes = []
    original = ibi_module.block_bounds

    def spy(backbone, inputs, eps, stop):
        boxes.append((inputs - eps, inputs + eps))
        return original(backbone, inputs, eps, stop)

    eps = 0.05
    p01 = pixels.float() / 255
    expected_lo = ((p01 - eps - mean[0]) / std[0]).view(4, 20, 1, 28, 28)
    expected_hi = ((p01 + eps - mean[0]) / std[0]).view(4, 20, 1, 28, 28)
    for options, factor in [({}, 1.0 / std[0]), ({"eps_unit": "normalised"}, 1.0)]:
        boxes.clear()
        wrapped = wrap_interpolation(protonet(), {"kind": "ibp", "eps": eps, **options}, input_std=std)
        ibi_module.block_bounds = spy
        try:
            wrapped.meta_batch_loss(tasks, 5)
        finally:
            ibi_module.block_bounds = original
        assert len(boxes) == 4  # one pass per task, support and query together
        lo, hi = boxes[0]
        torch.testing.assert_close((hi - lo) / 2, torch.full_like(lo, eps * factor))
        if factor != 1.0:
            for i, (lo, hi) in enumerate(boxes):
                torch.testing.assert_close(lo, expected_lo[i], atol=1e-5, rtol=0)
                torch.testing.assert_close(hi, expected_hi[i], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="eps_unit: normalised"):  # pixel units need the std
        wrap_interpolation(protonet(), {"kind": "ibi", "eps": eps}).meta_batch_loss(tasks, 5)
    with pytest.raises(ValueError, match="eps_unit must be one of pixel, normalised"):
        wrap_interpolation(protonet(), {"kind": "ibi", "eps_unit": "pixels"})


def test_config_builds_the_wrapper():
    from fewshot.config import load_config
    from fewshot.runs.build import build_learner

    cfg = load_config(None, ["model.width=8", "model.options={interpolation: {kind: mlti, layer: 0, mix: cutmix}}"])
    learner = build_learner(cfg, 1)
    assert isinstance(learner, InterpolatedLearner) and isinstance(learner.inner, ProtoNet)


@pytest.mark.parametrize("name", ["glyphs_s_protonet_mlti", "glyphs_s_protonet_ibi", "glyphs_s_maml_mlti",
                                  "glyphs_s_maml_ibi"])
def test_glyphs_s_configs_build_interpolated_learners(name):
    from pathlib import Path

    from fewshot.config import load_config
    from fewshot.runs.build import build_learner

    if "maml" in name:
        pytest.importorskip("learn2learn")
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml")
    assert cfg.data.train_classes == 12  # the few-task regime
    learner = build_learner(cfg, 1)
    assert isinstance(learner, InterpolatedLearner)
    assert learner.kind == name.rsplit("_", 1)[1]


def test_trainer_hands_meta_batches_to_interpolated_learners(tmp_path):
    """train.meta_batch episodes reach meta_batch_loss together, in the few-task regime, and the
    log / checkpoint cadence survives groups that do not divide it."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tiny_run  # noqa: F401  (registers the "tiny" data set)

    from fewshot.config import load_config
    from fewshot.engine.trainer import train
    from fewshot.runs.checkpoint import load_checkpoint

    threads = torch.get_num_threads()
    cfg = load_config(tiny_run.write_config(tmp_path), [
        f"run.out_dir={tmp_path}", "train.episodes=12", "train.meta_batch=3", "train.val_every=6",
        "train.ckpt_every=6", "train.log_every=4", "data.train_classes=5", "train.deterministic=false",
        "model.options={interpolation: {kind: mlti, layer: random, mix: cutmix}}"])
    try:
        result = train(cfg, tmp_path / "run")
    finally:
        torch.set_num_threads(threads)
    assert result.episodes == 12
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["episode"] for r in train_rows] == [6, 9, 12]  # first group past each multiple of 4
    assert all(r["mixed_tasks"] == 3 for r in train_rows)  # every task of each meta-batch mixed
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["episode"] == 12 and int(state["model"]["episodes_seen"]) == 12


@pytest.mark.parametrize("options", ["{kind: mlti, layer: random, mix: cutmix, pairing: released}",
                                     "{kind: ibi, eps: 0.1, tasks: all}"])
def test_resumed_interpolated_training_is_exact(tmp_path, options):
    """Pairings, lambdas, layers and IBI's eps schedule replay exactly after a resume."""
    import shutil
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tiny_run  # noqa: F401

    from fewshot.config import load_config
    from fewshot.engine.trainer import train
    from fewshot.runs.checkpoint import load_checkpoint

    threads = torch.get_num_threads()
    cfg = load_config(tiny_run.write_config(tmp_path), [
        f"run.out_dir={tmp_path}", "train.episodes=24", "train.meta_batch=3", "train.val_every=12",
        "train.ckpt_every=6", "train.keep_last=4", f"model.options={{interpolation: {options}}}"])
    try:
        train(cfg, tmp_path / "full")
        shutil.copytree(tmp_path / "full", tmp_path / "cut")
        ckpt = tmp_path / "cut" / "checkpoints"
        shutil.copy(ckpt / "episode-0000012.pt", ckpt / "last.pt")
        train(cfg, tmp_path / "cut", resume=True)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["model"]
    assert int(a["episodes_seen"]) == 24
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_ibi_refuses_blocks_without_interval_rules_when_built():
    from fewshot.config import load_config
    from fewshot.runs.build import build_learner

    cfg = load_config(None, ["model.backbone=resnet18", "model.options={interpolation: {kind: ibi, layers: 2}}"])
    with pytest.raises(ValueError, match=r"block 2 holds a BasicBlock.*interpolation.layers below 2"):
        build_learner(cfg, 1)
    cfg = load_config(None, ["model.backbone=resnet18", "model.options={interpolation: {kind: ibi, layers: 1}}"])
    assert isinstance(build_learner(cfg, 1), InterpolatedLearner)  # the stem has rules
    cfg = load_config(None, ["model.backbone=resnet12", "model.width=8",
                             "model.backbone_options={drop_rate: 0.1, dropblock_size: 3}",
                             "model.options={interpolation: {kind: ibi, layers: 4}}"])
    assert isinstance(build_learner(cfg, 1), InterpolatedLearner)  # DropBlock included

"""fewshot.optim: learning-rate curves against closed forms, options reaching torch, the loop's
Adam + StepLR reproduced exactly, schedule state round trips."""

import io
import math

import pytest
import torch

from fewshot.optim import build_optimizer, build_schedule, clip_gradients

LR = 0.1


def model():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def curve(sched, opt, n):
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def naive(name, t, total=None, warmup=0, step_size=None, gamma=0.1, milestones=(), min_ratio=0.0):
    """Written from the formulas, independently of schedule_factor."""
    lr = LR
    if name == "step":
        lr *= gamma ** math.floor(t / step_size)
    elif name == "multistep":
        for m in milestones:
            if t >= m:
                lr *= gamma
    else:
        p = 0.0 if t < warmup else min(1.0, (t - warmup) / (total - warmup))
        lr *= min_ratio + (1 - min_ratio) * (1 + math.cos(math.pi * p)) / 2
    if t < warmup:
        lr *= (t + 1) / warmup
    return lr


CASES = [
    dict(name="step", step_size=4, gamma=0.5),
    dict(name="step", step_size=6, gamma=0.5, warmup=5),
    dict(name="multistep", milestones=(3, 7, 12), gamma=0.2),
    dict(name="multistep", milestones=(6, 9), gamma=0.1, warmup=4),
    dict(name="cosine", total=20),
    dict(name="cosine", total=20, warmup=5, min_ratio=0.1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_learning_rate_curves(case):
    opts = dict(case)
    name, total, warmup = opts.pop("name"), opts.pop("total", None), opts.pop("warmup", 0)
    opt = build_optimizer(model().parameters(), "sgd", lr=LR)
    sched = build_schedule(opt, name, total_steps=total, warmup_steps=warmup, **opts)
    got = curve(sched, opt, 25)
    want = [naive(name, t, total, warmup, **opts) for t in range(25)]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    if warmup:  # linear warm-up (no decay inside it in these cases): equal increments up to LR
        steps = [b - a for a, b in zip(got[:warmup], got[1:warmup])]
        assert steps == pytest.approx([got[0]] * (warmup - 1)) and got[warmup - 1] == pytest.approx(LR)
    if name == "cosine":
        assert got[0] == pytest.approx(LR / max(warmup, 1)) and got[total:] == pytest.approx(
            [LR * case.get("min_ratio", 0.0)] * (25 - total))


def test_adam_steplr_is_exactly_the_loop_of_today():
    a, b = model(), model()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-3, weight_decay=1e-4)
    sched_a = torch.optim.lr_scheduler.StepLR(opt_a, step_size=5, gamma=0.5)
    opt_b = build_optimizer(b.parameters(), "adam", lr=1e-3, weight_decay=1e-4)
    sched_b = build_schedule(opt_b, "step", step_size=5, gamma=0.5)
    assert type(opt_b) is torch.optim.Adam and type(sched_b) is torch.optim.lr_scheduler.StepLR
    x = torch.randn(8, 3)
    for _ in range(12):
        for net, opt, sched in ((a, opt_a, sched_a), (b, opt_b, sched_b)):
            net(x).pow(2).sum().backward()
            opt.step()
            opt.zero_grad()
            sched.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert sched_a.state_dict() == sched_b.state_dict()
    assert opt_a.state_dict()["param_groups"] == opt_b.state_dict()["param_groups"]


def test_pretrain_sgd_multistep_is_what_pretraining_builds():
    opt = build_optimizer(model().parameters(), "sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = build_schedule(opt, "multistep", milestones=[10, 20], gamma=0.1)
    assert type(sched) is torch.optim.lr_scheduler.MultiStepLR
    group = opt.param_groups[0]
    assert type(opt) is torch.optim.SGD
    assert (group["momentum"], group["nesterov"], group["weight_decay"], group["lr"]) == (0.9, True, 5e-4, 0.05)


def test_sgd_nesterov_changes_the_update():
    updates = {}
    for nesterov in (False, True):
        net = model()
        opt = build_optimizer(net.parameters(), "sgd", lr=0.1, momentum=0.5, nesterov=nesterov)
        for _ in range(2):
            net(torch.ones(1, 3)).sum().backward()
            opt.step()
        updates[nesterov] = net.weight.detach().clone()
    assert not torch.equal(updates[False], updates[True])
    adamw = build_optimizer(model().parameters(), "adamw", lr=1e-3, weight_decay=0.01)
    assert type(adamw) is torch.optim.AdamW and adamw.param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_state_dict_round_trip_gives_identical_later_rates(case):
    opts = dict(case)
    name, total, warmup = opts.pop("name"), opts.pop("total", None), opts.pop("warmup", 0)

    def make():
        opt = build_optimizer(model().parameters(), "sgd", lr=LR, momentum=0.9)
        return opt, build_schedule(opt, name, total_steps=total, warmup_steps=warmup, **opts)

    opt, sched = make()
    straight = curve(sched, opt, 20)
    opt, sched = make()
    curve(sched, opt, 7)
    buf = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)  # as checkpoints are read
    opt2, sched2 = make()
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    assert curve(sched2, opt2, 13) == straight[7:]


@pytest.mark.parametrize("call, match", [
    (lambda p: build_optimizer(p, "rmsprop"), r"optimizer must be one of adam, adamw, sgd; got 'rmsprop'"),
    (lambda p: build_optimizer(p, "sgd", lr=0), "lr must be > 0"),
    (lambda p: build_optimizer(p, "sgd", momentum=0.0, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: build_optimizer(p, "adam", nesterov=True), "nesterov applies to sgd only"),
    (lambda p: build_optimizer(p, "sgd", momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda p: build_optimizer(p, "adam", weight_decay=-1), "weight_decay must be >= 0"),
])
def test_optimizer_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(model().parameters())


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="linear"), r"schedule must be one of step, multistep, cosine; got 'linear'"),
    (dict(name="step"), "'step' needs step_size"),
    (dict(name="step", step_size=2, gamma=0), r"gamma must be in \(0, 1\]"),
    (dict(name="multistep", milestones=[5, 3]), "'multistep' needs milestones, increasing"),
    (dict(name="multistep"), "'multistep' needs milestones"),
    (dict(name="cosine"), "'cosine' needs total_steps"),
    (dict(name="cosine", total_steps=5, warmup_steps=5), r"> warmup_steps \(5\)"),
    (dict(name="step", step_size=2, warmup_steps=-1), "warmup_steps must be an integer >= 0"),
])
def test_schedule_errors(kwargs, match):
    opt = build_optimizer(model().parameters())
    with pytest.raises(ValueError, match=match):
        build_schedule(opt, **kwargs)


def test_clip_gradients():
    net = model()
    net(torch.full((4, 3), 10.0)).sum().backward()
    before = torch.cat([p.grad.flatten() for p in net.parameters()]).norm()
    assert before > 1
    assert clip_gradients(net.parameters(), None) is None
    total = clip_gradients(net.parameters(), 1.0)
    torch.testing.assert_close(total, before)
    after = torch.cat([p.grad.flatten() for p in net.parameters()]).norm()
    torch.testing.assert_close(after, torch.tensor(1.0), rtol=1e-5, atol=1e-5)
    clip_gradients(net.parameters(), 10.0)  # below the limit: unchanged
    torch.testing.assert_close(torch.cat([p.grad.flatten() for p in net.parameters()]).norm(), after)
    with pytest.raises(ValueError, match="grad_clip must be > 0"):
        clip_gradients(net.parameters(), -1.0)

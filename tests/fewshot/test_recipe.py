"""The modern recipe in the one training loop: each option changes what it should, and a run
killed and resumed with it ends identical to an uninterrupted one."""

import math
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402  (registers the "tiny" data set)
from test_resume import assert_same_run  # noqa: E402

from fewshot.config import ConfigError, load_config  # noqa: E402
from fewshot.engine import trainer as trainer_module  # noqa: E402
from fewshot.engine.trainer import train  # noqa: E402
from fewshot.runs.checkpoint import load_checkpoint  # noqa: E402
from fewshot.runs.records import read_metrics  # noqa: E402

SHORT = ["train.episodes=30", "train.val_every=15", "train.ckpt_every=5", "train.keep_last=6", "train.log_every=1"]


def _config(tmp_path, *overrides):
    return load_config(tiny_run.write_config(tmp_path), [f"run.out_dir={tmp_path}", *SHORT, *overrides])


def _lrs(run):
    return [r["lr"] for r in read_metrics(run) if r["kind"] == "train"]


def test_cosine_schedule_with_warmup_follows_the_formula(tmp_path):
    cfg = _config(tmp_path, "train.schedule=cosine", "train.warmup=5", "train.lr=0.01", "train.lr_min_ratio=0.1")
    train(cfg, tmp_path / "run")
    lrs = _lrs(tmp_path / "run")
    total, warm, base, low = 30, 5, 0.01, 0.1
    for episode, lr in enumerate(lrs):  # the rate of episode e is the one after e schedule steps
        ramp = min(1.0, (episode + 1) / warm)
        progress = min(1.0, max(0.0, (episode - warm) / (total - warm)))
        want = base * ramp * (low + (1 - low) * 0.5 * (1 + math.cos(math.pi * progress)))
        assert lr == pytest.approx(want, rel=1e-9), episode
    assert lrs[0] == pytest.approx(base / warm) and max(lrs) == pytest.approx(base)


def test_multistep_and_sgd_reach_the_optimizer(tmp_path):
    cfg = _config(tmp_path, "train.schedule=multistep", "train.milestones=[10, 20]", "train.lr_gamma=0.5",
                  "train.optimizer=sgd", "train.momentum=0.8", "train.nesterov=true", "train.lr=0.1")
    train(cfg, tmp_path / "run")
    lrs = _lrs(tmp_path / "run")
    assert lrs[:10] == pytest.approx([0.1] * 10) and lrs[10:20] == pytest.approx([0.05] * 10)
    assert lrs[20:] == pytest.approx([0.025] * 10)
    group = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["optimizer"]["param_groups"][0]
    assert group["momentum"] == 0.8 and group["nesterov"] is True
    with pytest.raises(ConfigError, match="train.nesterov"):
        _config(tmp_path, "train.nesterov=true")  # adam
    with pytest.raises(ConfigError, match="train.optimizer"):
        _config(tmp_path, "train.optimizer=lamb")


def _capture_backbone_inputs(monkeypatch):
    """Record (dtype of the backbone's output, its input) of every training forward pass."""
    seen = []
    real = trainer_module.build_learner

    def build(*args, **kwargs):
        learner = real(*args, **kwargs)

        def hook(module, inputs, output):
            if module.training:
                seen.append((output.dtype, inputs[0].detach().clone()))
        learner.backbone.register_forward_hook(hook)
        return learner

    monkeypatch.setattr(trainer_module, "build_learner", build)
    return seen


def test_bf16_autocast_inside_the_forward_pass(tmp_path, monkeypatch):
    seen = _capture_backbone_inputs(monkeypatch)
    train(_config(tmp_path, "train.episodes=4", "train.val_every=0", "train.precision=bf16"), tmp_path / "bf16")
    assert seen and all(dtype == torch.bfloat16 for dtype, _ in seen)
    seen.clear()
    train(_config(tmp_path, "train.episodes=4", "train.val_every=0"), tmp_path / "fp32")
    assert seen and all(dtype == torch.float32 for dtype, _ in seen)
    with pytest.raises(ValueError, match="train.precision=bf16"):  # fp16 needs CUDA
        train(_config(tmp_path, "train.precision=16", "train.device=cpu"), tmp_path / "fp16")


def test_augmentation_changes_the_pixels_reproducibly(tmp_path, monkeypatch):
    seen = _capture_backbone_inputs(monkeypatch)
    runs = {}
    for name, extra in (("plain", []), ("aug", ["train.augment_support=crop_flip", "train.augment_query=flip"]),
                        ("again", ["train.augment_support=crop_flip", "train.augment_query=flip"])):
        seen.clear()
        train(_config(tmp_path, "train.episodes=3", "train.val_every=0", *extra), tmp_path / name)
        runs[name] = [x for _, x in seen]
    plain, aug, again = runs["plain"], runs["aug"], runs["again"]
    assert all(torch.equal(a, b) for a, b in zip(aug, again))  # seeded by the episode
    n_support = 4  # 4-way 1-shot
    first_plain, first_aug = plain[0], aug[0]
    assert not torch.equal(first_plain[:n_support], first_aug[:n_support])  # support cropped and flipped
    # flipped queries are mirror images of the plain ones, the others unchanged
    for p, a in zip(first_plain[n_support:], first_aug[n_support:]):
        assert torch.equal(p, a) or torch.equal(p.flip(-1), a)
    # each episode draws its own augmentation (seeded by the episode, not one seed for all)
    masks = []
    for p_ep, a_ep in zip(plain, aug):
        masks.append(tuple(not torch.equal(p, a) for p, a in zip(p_ep[n_support:], a_ep[n_support:])))
    assert len(set(masks)) > 1, masks


def test_grad_clip_bounds_the_norm_the_optimizer_sees(tmp_path, monkeypatch):
    norms = []
    real_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    train(_config(tmp_path, "train.episodes=6", "train.val_every=0", "train.grad_clip=0.01"), tmp_path / "clip")
    assert len(norms) == 6 and max(norms) <= 0.01 * (1 + 1e-4)


def test_early_stopping_stops_and_stays_stopped(tmp_path, monkeypatch):
    scores = iter([0.5, 0.6, 0.55, 0.6, 0.7])  # best at episode 10, no better at 15 and 20
    real = trainer_module.evaluate_sharded

    def evaluate_sharded(*args, **kwargs):
        res = real(*args, **kwargs)
        res.accuracies[:] = next(scores)
        return res

    monkeypatch.setattr(trainer_module, "evaluate_sharded", evaluate_sharded)
    cfg = _config(tmp_path, "train.episodes=60", "train.val_every=5", "train.patience=2")
    result = train(cfg, tmp_path / "run")
    assert result.episodes == 20 and result.best_val == pytest.approx(0.6)
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert last["episode"] == 20 and last["stopped"] is True and best["episode"] == 10
    again = train(cfg, tmp_path / "run", resume=True)  # a stopped run stays stopped
    assert again.episodes == 20
    assert [r["episode"] for r in read_metrics(tmp_path / "run") if r["kind"] == "val"] == [5, 10, 15, 20]


def test_best_checkpoint_holds_what_evaluation_needs_only(tmp_path):
    train(_config(tmp_path), tmp_path / "run")
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert "optimizer" not in best and "scheduler" not in best and {"model", "config", "norm"} <= set(best)
    assert "optimizer" in last


@pytest.mark.parametrize("recipe", [
    ["train.schedule=cosine", "train.warmup=4", "train.optimizer=adamw", "train.weight_decay=0.01"],
    ["train.augment_support=crop_flip_jitter", "train.augment_query=flip", "train.grad_clip=0.5"],
    ["train.precision=bf16", "train.optimizer=sgd", "train.lr=0.05", "train.schedule=multistep",
     "train.milestones=[12]"],
])
def test_a_resumed_run_with_the_recipe_is_exact(tmp_path, recipe):
    cfg = _config(tmp_path, *recipe)
    full = tmp_path / "full"
    train(cfg, full)
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    ckpt = cut / "checkpoints"
    shutil.copy(ckpt / "episode-0000010.pt", ckpt / "last.pt")  # killed after episode 10's checkpoint
    train(cfg, cut, resume=True)
    assert_same_run(cut, full)


def test_pretrain_then_meta_train_from_model_init(tmp_path, capsys):
    """The two-stage recipe on the tiny data set: pre-training, then ProtoNet from its backbone."""
    from fewshot.backbones.weights import WeightsError
    from fewshot.engine.pretrain import pretrain
    from fewshot.runs.build import build_learner

    base = tiny_run.write_config(tmp_path)
    pre = load_config(base, [f"run.out_dir={tmp_path}", "model.learner=pretrain", "pretrain.batch_size=16",
                             "train.episodes=6", "train.val_every=0", "train.lr=0.05"])
    pretrain(pre, tmp_path / "pre")
    cfg = _config(tmp_path, "train.episodes=4", "train.val_every=0", f"model.init={tmp_path / 'pre'}")
    learner = build_learner(cfg, 1, load_init=True)
    saved = load_checkpoint(tmp_path / "pre" / "checkpoints" / "best.pt")["model"]
    for key, value in learner.backbone.state_dict().items():
        torch.testing.assert_close(value, saved[f"backbone.{key}"], rtol=0, atol=0)
    assert "model.init:" in capsys.readouterr().out  # the report of what fitted
    fresh = build_learner(cfg, 1)  # evaluation rebuilds without model.init
    assert not all(torch.equal(a, b) for a, b in zip(fresh.backbone.state_dict().values(),
                                                     learner.backbone.state_dict().values()))
    train(cfg, tmp_path / "meta")
    assert load_checkpoint(tmp_path / "meta" / "checkpoints" / "last.pt")["config"]["model"]["init"] == \
        str((tmp_path / "pre").resolve())
    wide = _config(tmp_path, f"model.init={tmp_path / 'pre'}", "model.width=16")  # another architecture
    with pytest.raises(WeightsError):
        build_learner(wide, 1, load_init=True)
    loose = _config(tmp_path, f"model.init={tmp_path / 'pre'}", "model.width=16", "model.init_strict=false")
    build_learner(loose, 1, load_init=True)  # loads what fits, reports the rest


def test_backbone_options_reach_the_backbone_and_the_device_is_recorded(tmp_path):
    from fewshot.runs.build import build_learner

    cfg = _config(tmp_path, "model.backbone=resnet12", "model.width=8", "model.backbone_options={drop_rate: 0.1}")
    learner = build_learner(cfg, 1)
    assert any(getattr(m, "drop_rate", 0) == 0.1 for m in learner.backbone.modules())
    bad = _config(tmp_path, "model.backbone_options={no_such_option: 1}")
    with pytest.raises(ValueError, match="model.backbone_options"):
        build_learner(bad, 1)
    train(_config(tmp_path, "train.episodes=2", "train.val_every=0"), tmp_path / "run")  # device: auto
    import yaml

    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["device"]
    assert recorded == ("cuda" if torch.cuda.is_available() else "cpu")


def test_device_resident_images_give_the_same_run(tmp_path):
    """train.data_on_device uploads the uint8 split once (here the device is the CPU): same run."""
    host, resident = tmp_path / "host", tmp_path / "resident"
    train(_config(tmp_path, "train.data_on_device=false"), host)
    train(_config(tmp_path, "train.data_on_device=true"), resident)
    assert_same_run(resident, host)


def test_channels_last_and_compile_reach_the_model(tmp_path, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    seen = _capture_backbone_inputs(monkeypatch)
    train(_config(tmp_path, "train.episodes=2", "train.val_every=0", "train.channels_last=true",
                  "train.compile=true"), tmp_path / "run")
    assert compiled == ["Conv4"]
    assert seen and all(x.is_contiguous(memory_format=torch.channels_last) for _, x in seen)
    weights = [w for k, w in load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"].items()
               if w.dim() == 4 and w.shape[1] > 1]  # convolutions after the first (1 input channel)
    assert weights  # saved as trained; the live model was channels-last:
    from fewshot.runs.build import build_learner

    learner = trainer_module.prepare_model(_config(tmp_path, "train.channels_last=true"), build_learner(
        _config(tmp_path), 1))
    convs = [m.weight for m in learner.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                         for w in convs)

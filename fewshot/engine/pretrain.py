"""Standard pre-training: cross-entropy over all base classes, no episodes (SimpleShot's recipe).

The backbone and a linear or cosine head over the C classes of the train split are trained on
shuffled batches; validation is nearest-centroid episodes (the ``pretrain`` learner,
:class:`fewshot.learners.SimpleShot`). Before each validation and at the end the base-class
mean feature is stored in the learner, so every checkpoint can centre features. Checkpoints have
the trainer's format (``model`` holds the learner: backbone + base mean; the head is kept under
``head`` for resuming only), so ``fewshot eval`` works on them. ``train.episodes`` counts steps.

Distributed (torchrun): ``pretrain.batch_size`` is the batch of one optimiser step over all
processes. It is cut into ``processes x pretrain.accumulate`` interleaved chunks (chunk g holds
rows g, g + G, ... of the batch); process r runs chunks r, r + P, ... one at a time and DDP
averages the gradients, so P processes compute what one process does with ``accumulate = P``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..augment import PRESETS, augment
from ..config import Config
from ..learners import LEARNERS
from ..learners.base import eval_mode
from ..learners.simpleshot import HEADS, SimpleShot, make_head
from ..optim import build_optimizer
from ..runs import ranks
from ..runs.build import build_learner
from ..runs.inputs import Normalizer, gather
from . import distributed as dist
from .trainer import (
    TrainResult,
    autocast,
    check_device,
    check_precision,
    fit,
    make_schedule,
    prepare_model,
    prepare_run,
    probe,
    validation_sampler,
)


class EpochBatches:
    """Batch ``step`` = a slice of epoch ``step // per_epoch``'s seeded permutation.

    A pure function of the step, so resuming only needs the step count. The last incomplete
    batch of an epoch is dropped (a tiny batch would give BatchNorm noisy statistics).
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        if not 1 <= batch_size <= n:
            raise ValueError(f"pretrain.batch_size must be between 1 and the {n} training images, "
                             f"got {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.per_epoch = n // batch_size
        self.step = 0

    def indices(self, step: int) -> np.ndarray:
        """Sorted image indices of batch ``step`` (sorted: faster gathers from memory maps)."""
        epoch, pos = divmod(step, self.per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return np.sort(perm[pos * self.batch_size:(pos + 1) * self.batch_size])

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


@torch.no_grad()
def base_class_mean(learner, images: np.ndarray, normalizer: Normalizer, batch_size: int = 500) -> torch.Tensor:
    """Mean backbone feature over every image of the base split (evaluation mode): (D,)."""
    total, count = 0.0, 0
    with eval_mode(learner):
        for start in range(0, len(images), batch_size):
            z = learner.embed(normalizer(torch.from_numpy(np.array(images[start:start + batch_size]))))
            total, count = total + z.double().sum(0), count + len(z)
    return (total / count).float()


def check_pretrain_config(cfg: Config) -> None:
    """Clear errors for pre-training settings the dataclass types cannot check."""
    p = cfg.pretrain
    if cfg.model.learner not in LEARNERS or LEARNERS.info(cfg.model.learner).get("training") != "batches":
        raise ValueError(f"standard pre-training needs model.learner: pretrain, got {cfg.model.learner!r}")
    choices = {"pretrain.head": (p.head, HEADS), "pretrain.optimizer": (p.optimizer, ("sgd", "adam")),
               "pretrain.augment": (p.augment, tuple(PRESETS))}
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"config key {key!r} must be one of {allowed}, got {value!r}")
    if p.batch_size < 1 or p.momentum < 0 or not p.head_scale > 0 or p.accumulate < 1:
        raise ValueError("pretrain.batch_size and pretrain.accumulate must be >= 1, pretrain.momentum >= 0 and "
                         f"pretrain.head_scale > 0; got {p.batch_size}, {p.accumulate}, {p.momentum}, "
                         f"{p.head_scale}")
    chunks = ranks.world_size() * p.accumulate
    if p.batch_size % chunks:
        raise ValueError(f"pretrain.batch_size={p.batch_size} does not split into {chunks} equal chunks "
                         f"({ranks.world_size()} process(es) x pretrain.accumulate={p.accumulate}); "
                         f"choose a multiple of {chunks}")
    if any(b <= a for a, b in zip(p.milestones, p.milestones[1:])) or any(m < 1 for m in p.milestones):
        raise ValueError(f"pretrain.milestones must be increasing steps >= 1, got {p.milestones}")


def _optimizer(cfg: Config, params):
    t, p = cfg.train, cfg.pretrain
    return build_optimizer(params, p.optimizer, lr=t.lr, momentum=p.momentum, nesterov=p.nesterov,
                           weight_decay=t.weight_decay)


class _Classify(torch.nn.Module):
    """Backbone + head as one module, so that DDP all-reduces the gradients of both."""

    def __init__(self, learner: SimpleShot, head: torch.nn.Module):
        super().__init__()
        self.learner, self.head = learner, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.learner.embed(x))


class BatchStep:
    """Pre-training's step: one batch of ``pretrain.batch_size`` images of all base classes
    through backbone + head with cross-entropy (in ``ranks x pretrain.accumulate`` chunks), an
    optimiser step every batch. Stores the base-class mean feature before each validation and
    at the end; checkpoints keep the head (for resuming)."""

    unit = "step"
    name = "pretrain"

    def __init__(self, cfg: Config, learner: SimpleShot, head: torch.nn.Module, train_split, norm: Normalizer):
        t, p = cfg.train, cfg.pretrain
        self.cfg, self.learner, self.head, self.split, self.norm = cfg, learner, head, train_split, norm
        self.sampler = EpochBatches(len(train_split), p.batch_size, t.seed)  # the position a checkpoint keeps
        self.labels = torch.as_tensor(train_split.labels, device=t.device)
        model = _Classify(learner, head)
        self.wrapped = dist.ddp(model) or model
        world, rank = ranks.world_size(), ranks.rank()
        self.n_chunks = world * p.accumulate  # chunk g: rows g, g + n_chunks, ... of the step's batch
        self.mine = [rank + world * a for a in range(p.accumulate)]  # this process's chunks
        self.scaler = None  # set by fit for train.precision=16

    def run(self, position: int):
        t, p = self.cfg.train, self.cfg.pretrain
        self.head.train()
        step = position
        while step < t.episodes:
            index = self.sampler.indices(step)
            total = {"loss": 0.0, "acc": 0.0}
            for a, g in enumerate(self.mine):
                chunk = index[g::self.n_chunks]  # still sorted
                x = self.norm(gather(self.split.images, chunk))
                seed = (t.seed * 1_000_003 + step) * self.n_chunks + g  # one chunk: the single-batch seed
                x = augment(x, p.augment, torch.Generator().manual_seed(seed))
                y = self.labels[torch.as_tensor(chunk, device=t.device)]
                if t.channels_last and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                with dist.sync_context(self.wrapped if ranks.world_size() > 1 else None, a == len(self.mine) - 1):
                    with autocast(self.cfg):
                        logits = self.wrapped(x)
                        loss = F.cross_entropy(logits.float(), y)
                    scaled = loss / p.accumulate
                    (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
                total["loss"] += loss.detach() / p.accumulate
                total["acc"] += (logits.argmax(1) == y).float().mean() / p.accumulate
            step += 1
            self.sampler.step = step
            yield 1, ranks.mean_over_ranks(total), True  # every rank checks and logs the same numbers

    def before_checkpoint(self, position: int, validating: bool) -> None:
        if self.learner.center and (validating or position == self.cfg.train.episodes):
            self.learner.set_base_mean(base_class_mean(self.learner, self.split.images, self.norm))

    def extra_state(self) -> dict:
        return {"head": self.head.state_dict(), "kind": "pretrain"}

    def load_extra(self, state: dict) -> None:
        self.head.load_state_dict(state["head"])


def pretrain(cfg: Config, run_dir: Path, resume: bool = False) -> TrainResult:
    """Pre-train ``cfg.model`` (learner ``pretrain``) on all classes of ``cfg.data.train_split``."""
    check_pretrain_config(cfg)
    t, p = cfg.train, cfg.pretrain
    t.device = str(check_device(t.device))  # auto resolved: config.yaml records the device used
    check_precision(cfg)
    run_dir, ckpt_dir, train_split, val_split, in_channels, norm = prepare_run(cfg, run_dir, ranks.is_main())
    learner: SimpleShot = prepare_model(cfg, build_learner(cfg, in_channels, load_init=not resume).to(t.device))
    head = make_head(p.head, learner.base_mean.numel(), train_split.num_classes, p.head_scale,
                     p.learn_head_scale).to(t.device)
    opt = _optimizer(cfg, [*learner.parameters(), *head.parameters()])
    sched = make_schedule(cfg, opt, milestones=p.milestones)
    val_sampler = validation_sampler(cfg, val_split)  # drawn as episodic validation draws them
    step = BatchStep(cfg, learner, head, train_split, norm)
    probe(learner, cfg, norm, train_split.images)
    return fit(cfg, step, learner, opt, sched, run_dir, ckpt_dir, val_split, val_sampler, norm, in_channels,
               resume)

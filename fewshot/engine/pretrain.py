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

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from episodes import EpisodeSampler

from ..config import Config
from ..evaluation import evaluate
from ..learners.pretrain import HEADS, SimpleShot, make_head
from . import distributed as dist
from .batch_augment import AUGMENTS, augment_batch
from .build import build_learner
from .checkpoint import copy_checkpoint, save_checkpoint
from .inputs import Normalizer, gather
from .trainer import (
    TrainingError,
    TrainResult,
    check_device,
    check_weights,
    open_run_logs,
    prepare_run,
    probe,
    restore_run_rng,
    resume_state,
    run_state,
    save_last,
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
    was_training = learner.training
    learner.eval()
    total, count = 0.0, 0
    for start in range(0, len(images), batch_size):
        z = learner.embed(normalizer(torch.from_numpy(np.array(images[start:start + batch_size]))))
        total, count = total + z.double().sum(0), count + len(z)
    learner.train(was_training)
    return (total / count).float()


def check_pretrain_config(cfg: Config) -> None:
    """Clear errors for pre-training settings the dataclass types cannot check."""
    p = cfg.pretrain
    if cfg.model.learner != "pretrain":
        raise ValueError(f"standard pre-training needs model.learner: pretrain, got {cfg.model.learner!r}")
    choices = {"pretrain.head": (p.head, HEADS), "pretrain.optimizer": (p.optimizer, ("sgd", "adam")),
               "pretrain.augment": (p.augment, AUGMENTS)}
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"config key {key!r} must be one of {allowed}, got {value!r}")
    if p.batch_size < 1 or p.momentum < 0 or not p.head_scale > 0 or p.accumulate < 1:
        raise ValueError("pretrain.batch_size and pretrain.accumulate must be >= 1, pretrain.momentum >= 0 and "
                         f"pretrain.head_scale > 0; got {p.batch_size}, {p.accumulate}, {p.momentum}, "
                         f"{p.head_scale}")
    chunks = dist.world_size() * p.accumulate
    if p.batch_size % chunks:
        raise ValueError(f"pretrain.batch_size={p.batch_size} does not split into {chunks} equal chunks "
                         f"({dist.world_size()} process(es) x pretrain.accumulate={p.accumulate}); "
                         f"choose a multiple of {chunks}")
    if any(b <= a for a, b in zip(p.milestones, p.milestones[1:])) or any(m < 1 for m in p.milestones):
        raise ValueError(f"pretrain.milestones must be increasing steps >= 1, got {p.milestones}")


def _optimizer(cfg: Config, params):
    t, p = cfg.train, cfg.pretrain
    if p.optimizer == "sgd":
        return torch.optim.SGD(params, lr=t.lr, momentum=p.momentum, nesterov=p.nesterov,
                               weight_decay=t.weight_decay)
    return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)


class _Classify(torch.nn.Module):
    """Backbone + head as one module, so that DDP all-reduces the gradients of both."""

    def __init__(self, learner: SimpleShot, head: torch.nn.Module):
        super().__init__()
        self.learner, self.head = learner, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.learner.embed(x))


def pretrain(cfg: Config, run_dir: Path, resume: bool = False) -> TrainResult:
    """Pre-train ``cfg.model`` (learner ``pretrain``) on all classes of ``cfg.data.train_split``."""
    check_pretrain_config(cfg)
    t, p = cfg.train, cfg.pretrain
    check_device(t.device)
    world, rank, main = dist.world_size(), dist.rank(), dist.is_main()  # distributed: rank 0 writes
    run_dir, ckpt_dir, train_split, val_split, in_channels, norm = prepare_run(cfg, run_dir, main)
    learner: SimpleShot = build_learner(cfg, in_channels).to(t.device)
    head = make_head(p.head, learner.base_mean.numel(), train_split.num_classes, p.head_scale,
                     p.learn_head_scale).to(t.device)
    labels = torch.as_tensor(train_split.labels, device=t.device)
    opt = _optimizer(cfg, [*learner.parameters(), *head.parameters()])
    sched = (torch.optim.lr_scheduler.MultiStepLR(opt, p.milestones, t.lr_gamma) if p.milestones
             else torch.optim.lr_scheduler.StepLR(opt, t.lr_step, t.lr_gamma))
    batches = EpochBatches(len(train_split), p.batch_size, t.seed)
    probe(learner, cfg, norm, train_split.images)
    state = resume_state(ckpt_dir, cfg, learner, opt, sched, batches) if resume else None
    if state:
        head.load_state_dict(state["head"])
    step, best_val = (state["episode"], state["best_val"]) if state else (0, None)
    saved_at = step if state else None
    log, window = open_run_logs(cfg, run_dir, state, main)
    if state:
        restore_run_rng(state)
    model = _Classify(learner, head)
    wrapped = dist.ddp(model) or model
    n_chunks = world * p.accumulate  # chunk g: rows g, g + n_chunks, ... of the step's batch
    mine = [rank + world * a for a in range(p.accumulate)]  # this process's chunks

    def checkpoint() -> dict:
        out = run_state(cfg, learner, opt, sched, batches, norm, in_channels, step, best_val, log, window)
        return {**out, "head": head.state_dict(), "kind": "pretrain"}

    start = time.perf_counter()
    bar = tqdm(total=t.episodes, initial=step, desc="pretrain", disable=not (t.progress and main),
               dynamic_ncols=True)
    learner.train()
    head.train()
    try:
        while step < t.episodes:
            index = batches.indices(step)
            opt.zero_grad(set_to_none=True)
            total = {"loss": 0.0, "acc": 0.0}
            for a, g in enumerate(mine):
                chunk = index[g::n_chunks]  # still sorted
                x = norm(gather(train_split.images, chunk))
                seed = (t.seed * 1_000_003 + step) * n_chunks + g  # one chunk: the single-batch seed
                x = augment_batch(x, p.augment, torch.Generator().manual_seed(seed))
                y = labels[torch.as_tensor(chunk, device=t.device)]
                with dist.sync_context(wrapped if world > 1 else None, a == len(mine) - 1):
                    logits = wrapped(x)
                    loss = F.cross_entropy(logits, y)
                    (loss / p.accumulate).backward()
                total["loss"] += loss.detach() / p.accumulate
                total["acc"] += (logits.argmax(1) == y).float().mean() / p.accumulate
            mean = dist.mean_over_ranks(total)  # every rank checks and logs the same numbers
            step += 1
            batches.step = step
            if not torch.isfinite(mean["loss"]):
                raise TrainingError(f"pre-training stopped: the loss became {mean['loss'].item()} at step "
                                    f"{step}; the last good checkpoint (step {saved_at}) is kept. Lower train.lr.")
            lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            window.add(mean)
            bar.update(1)
            if step % t.log_every == 0 or step == t.episodes:
                row = window.flush()
                log.write("train", step, lr=lr, **row)
                bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['acc']:.3f}")
            validate = val_split is not None and (step % t.val_every == 0 or step == t.episodes)
            if learner.center and (validate or step == t.episodes):  # the mean of the current features
                learner.set_base_mean(base_class_mean(learner, train_split.images, norm))
            if validate:
                val_sampler = EpisodeSampler(val_split.labels, n_way=cfg.eval.n_way, k_shot=cfg.eval.shots[0],
                                             n_query=cfg.eval.n_query, n_episodes=t.val_episodes, seed=t.seed + 1)
                res = dist.evaluate_sharded(evaluate, learner, val_split, norm, val_sampler)
                log.write("val", step, val_acc=res.mean, val_ci95=res.ci95)
                if main:
                    bar.write(f"step {step}: validation {res}")
                if best_val is None or res.mean > best_val:
                    best_val = res.mean
                    check_weights(learner, step, "the previous best.pt is kept")
                    best = checkpoint()  # a collective under DDP: every rank builds it
                    if main:
                        save_checkpoint(best, ckpt_dir / "best.pt")
            if (t.ckpt_every and step % t.ckpt_every == 0) or step == t.episodes:
                check_weights(learner, step, f"the last good checkpoint (step {saved_at}) is kept")
                last = checkpoint()
                if main:
                    save_last(last, ckpt_dir, t.keep_last)
                saved_at = step
    finally:
        bar.close()
        log.close()
    if val_split is None and main:
        copy_checkpoint(ckpt_dir / "last.pt", ckpt_dir / "best.pt")
    dist.barrier()  # the other ranks read the checkpoints next (final evaluation)
    return TrainResult(run_dir, step, best_val, time.perf_counter() - start)

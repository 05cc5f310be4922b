"""Training: one loop for episodic training and standard pre-training, plus small helpers.

:func:`fit` is the loop body both share (logging, NaN guard, validation and the best checkpoint,
the last checkpoint, resume); what differs comes from a *step* object (:class:`EpisodeStep`
here, :class:`fewshot.engine.pretrain.BatchStep` for pre-training): what one iteration feeds
the model, the loss call and backward, and what the step adds to a checkpoint.

Resuming is exact: a checkpoint holds the model, optimiser, scheduler, sampler position, every
global RNG state, gradients accumulated towards an unfinished meta-batch, the running sums of the
current metrics window and the size of the metrics log. A run killed at any moment and resumed
from ``checkpoints/last.pt`` replays the episodes after that checkpoint and ends with the same
weights and the same metrics log rows as a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from episodes.interpolate import meta_batches

from ..atomic import atomic_write_text, copy_file, remove_stale_temporaries
from ..augment import Augment
from ..config import Config
from ..data.registry import load_from_config
from ..evaluation import evaluate
from ..evaluation.sharded import evaluate_sharded
from ..learners import LEARNERS
from ..learners.base import eval_mode
from ..optim import build_optimizer, build_schedule, clip_gradients
from ..runs import ranks
from ..runs.build import build_learner, used_plugins
from ..runs.checkpoint import (
    FORMAT,
    CheckpointError,
    check_compatible,
    check_state,
    describe,
    load_checkpoint,
    save_checkpoint,
)
from ..runs.episodes import build_sampler, episode_task
from ..runs.inputs import Normalizer, channels_of, gather, pixel_stats
from ..runs.records import MetricsLog, NullLog, open_tensorboard, record_run
from ..runs.rng import capture_rng, restore_rng, seed_everything, set_deterministic
from . import distributed as dist
from .resume import apply_changes, resume_changes

__all__ = ["train", "fit", "EpisodeStep", "TrainResult", "TrainingError", "check_device", "episode_error", "probe",
           "seed_everything"]


LOG = logging.getLogger("fewshot.train")


class Progress:
    """A tqdm bar on a terminal; elsewhere (stdout piped to a file, a batch job) one plain
    ``logging`` line every ``train.log_every`` episodes (episode, loss, accuracy, lr, episodes/s,
    ETA) and none of tqdm's carriage-return lines. Silent with ``train.progress: false`` and on
    ranks other than 0; validation lines are always written on rank 0."""

    def __init__(self, total: int, initial: int, desc: str, unit: str, enabled: bool, main: bool):
        self.total, self.unit, self.main = total, unit, main
        self.interactive = sys.stderr.isatty()
        self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True,
                        disable=not (enabled and main and self.interactive))
        self.lines = enabled and main and not self.interactive
        self.start, self.first = time.perf_counter(), initial

    def update(self, n: int) -> None:
        self.bar.update(n)

    def row(self, position: int, row: Dict[str, float], lr: float) -> None:
        self.bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['acc']:.3f}")
        if self.lines:
            rate = (position - self.first) / max(time.perf_counter() - self.start, 1e-9)
            eta = (self.total - position) / rate if rate > 0 else float("nan")
            LOG.info("%s %d/%d  loss %.4f  acc %.3f  lr %.3g  %.1f %ss/s  ETA %s", self.unit, position, self.total,
                     row["loss"], row["acc"], lr, row.get("episodes_per_s", rate), self.unit, _duration(eta))

    def write(self, text: str) -> None:
        if not self.main:
            return
        if self.interactive:
            self.bar.write(text)
        else:
            LOG.info("%s", text)

    def close(self) -> None:
        self.bar.close()


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    episodes: int
    best_val: Optional[float]
    seconds: float


class MetricWindow:
    """Sums of the episode outputs since the last metrics row; part of the checkpoint, so a
    resumed run writes the same means as an uninterrupted one."""

    def __init__(self, state: Optional[Dict[str, Any]] = None):
        self.sums: Dict[str, float] = dict(state["sums"]) if state else {}
        self.seen: int = state["seen"] if state else 0
        self.timed, self.tick = 0, time.perf_counter()  # for episodes/s (this process only)

    def add(self, out: Dict[str, torch.Tensor], episodes: int = 1) -> None:
        """``out``: the means over ``episodes`` episodes (a meta-batch, for grouped learners)."""
        for k, v in out.items():
            self.sums[k] = self.sums.get(k, 0.0) + episodes * float(v.detach() if torch.is_tensor(v) else v)
        self.seen += episodes
        self.timed += episodes

    def flush(self) -> Dict[str, float]:
        now = time.perf_counter()
        row = {k: v / self.seen for k, v in self.sums.items()}
        row["episodes_per_s"] = self.timed / max(now - self.tick, 1e-9)
        self.sums, self.seen, self.timed, self.tick = {}, 0, 0, now
        return row

    def state_dict(self) -> Dict[str, Any]:
        return {"sums": dict(self.sums), "seen": self.seen}


# What a checkpoint holds only for resuming; best.pt (what evaluation needs) leaves it out.
RESUME_ONLY = ("optimizer", "scheduler", "grads", "scaler", "head")


def slim(state: Dict[str, Any]) -> Dict[str, Any]:
    """``state`` without what only resuming needs (optimiser and schedule state, gradients)."""
    return {k: v for k, v in state.items() if k not in RESUME_ONLY}


def make_optimizer(cfg: Config, params):
    """``train.optimizer`` over ``params`` (episodic training)."""
    t = cfg.train
    return build_optimizer(params, t.optimizer, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov,
                           weight_decay=t.weight_decay)


def make_schedule(cfg: Config, opt, milestones=()):
    """``train.schedule`` stepped once per episode (per step for pre-training); ``milestones``
    (pre-training's) turn the default ``step`` schedule into ``multistep``."""
    t = cfg.train
    name, ms = t.schedule, list(t.milestones)
    if milestones and name == "step":
        name, ms = "multistep", list(milestones)
    return build_schedule(opt, name, total_steps=t.episodes, warmup_steps=t.warmup, step_size=t.lr_step,
                          gamma=t.lr_gamma, milestones=ms, min_ratio=t.lr_min_ratio)


def autocast(cfg: Config):
    """The autocast context ``train.precision`` asks for (none for 32)."""
    t = cfg.train
    if t.precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if t.precision == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(t.device).type, dtype=dtype)


def check_precision(cfg: Config) -> None:
    t = cfg.train
    if t.precision == "16" and torch.device(t.device).type != "cuda":
        raise ValueError(f"train.precision=16 (float16 with a gradient scaler) needs a CUDA device, but "
                         f"train.device is {t.device!r}; use train.precision=bf16 on the CPU")


def prepare_model(cfg: Config, learner):
    """``train.channels_last`` and ``train.compile`` applied to a built learner (in place)."""
    t = cfg.train
    if t.channels_last:
        learner.to(memory_format=torch.channels_last)
    if t.compile:
        learner.backbone.compile()  # nn.Module.compile: state_dict keys stay the same
    return learner


def run_state(cfg, learner, opt, sched, sampler_state, norm, in_channels, episode, best_val, log, window
           ) -> Dict[str, Any]:
    """Everything a checkpoint holds; ``sampler_state()`` gives the sampler's position."""
    grads = {}
    if episode % cfg.train.meta_batch:  # mid meta-batch: the accumulated gradients are state too
        grads = {n: p.grad.detach().clone() for n, p in learner.named_parameters() if p.grad is not None}
    return {
        "format": FORMAT, "config": cfg.to_dict(), "episode": episode, "best_val": best_val,
        "model": learner.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "sampler": sampler_state(), "rng": capture_rng(), "grads": grads,
        "metrics_offset": log.offset, "window": window.state_dict(),
        "norm": {"mean": norm.mean.flatten().tolist(), "std": norm.std.flatten().tolist()},
        "in_channels": in_channels, "learner": cfg.model.learner, "backbone": cfg.model.backbone,
        "plugins": used_plugins(cfg),  # imported again when the run is evaluated
        # distributed: every rank's generators (a collective: all ranks build the state)
        **({"rng_by_rank": ranks.all_gather_object(capture_rng())} if ranks.world_size() > 1 else {}),
    }


def open_run_logs(cfg, run_dir: Path, state: Optional[Dict[str, Any]], main: bool):
    """Start (or continue, from checkpoint ``state``) a run's records: ``config.yaml``, ``run.json``,
    ``metrics.jsonl`` and TensorBoard events, written by rank 0 only (other ranks log nowhere).

    Call it after a resume was accepted: a refused resume must leave ``config.yaml`` as it was.
    Returns ``(log, window)``.
    """
    resumed_from = state["episode"] if state else None
    if main:
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        record_run(run_dir, resumed_from=resumed_from, changes=(state or {}).get("resume_changes"))
    tb = open_tensorboard(run_dir / "tensorboard", resumed_from) if cfg.train.tensorboard and main else None
    log = (MetricsLog(run_dir / "metrics.jsonl", state["metrics_offset"] if state else None, resumed_from or 0, tb)
           if main else NullLog())
    return log, MetricWindow(state["window"] if state else None)


def restore_run_rng(state: Dict[str, Any]) -> None:
    """This process's random generators as the checkpoint saved them (each rank its own)."""
    restore_rng(state["rng_by_rank"][ranks.rank()] if ranks.world_size() > 1 else state["rng"])


def save_last(state: Dict[str, Any], ckpt_dir: Path, keep_last: int) -> None:
    """``last.pt`` plus the ``keep_last`` most recent ``episode-NNNNNNN.pt`` snapshots."""
    if not keep_last:
        save_checkpoint(state, ckpt_dir / "last.pt")
        return
    snapshot = save_checkpoint(state, ckpt_dir / f"episode-{state['episode']:07d}.pt")
    copy_file(snapshot, ckpt_dir / "last.pt")
    for old in sorted(ckpt_dir.glob("episode-*.pt"))[:-keep_last]:
        old.unlink()


def _crossed(episode: int, n: int, every: int) -> bool:
    """Did the last ``n`` episodes (up to ``episode``) pass a multiple of ``every``? For n = 1 this
    is ``episode % every == 0``; ``every = 0`` means never."""
    return every > 0 and episode // every > (episode - n) // every


def check_weights(learner, episode: int, kept: str) -> None:
    bad = [n for n, p in learner.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise TrainingError(f"training stopped: parameter {bad[0]!r} became NaN or infinite by episode "
                            f"{episode}, so no checkpoint was written; {kept}. Lower train.lr.")


def episode_error(err: ValueError, split, section: str, n_way: int, k_shot: int, n_query: int) -> ValueError:
    """A sampler's refusal, with the split and the config keys to change."""
    shots = "train.k_shot" if section == "train" else "eval.shots"
    return ValueError(f"cannot draw {n_way}-way {k_shot}-shot episodes with {n_query} queries per class "
                      f"from {split.name} ({split.num_classes} classes): {err} (config keys "
                      f"{section}.n_way, {shots}, {section}.n_query)")


def check_device(device: str) -> torch.device:
    """``train.device`` as a torch.device (``auto``: CUDA when available, else CPU), or a
    ValueError saying what is available."""
    device = ranks.resolve_device(device)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"train.device {device!r} is not a device name ({err}); use cpu, cuda or "
                         "cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device is {device!r} but no CUDA device is available; use train.device=cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"train.device is {device!r} but only {torch.cuda.device_count()} CUDA "
                         "device(s) are visible")
    if dev.type not in ("cpu", "cuda") and not (dev.type == "mps" and torch.backends.mps.is_available()):
        raise ValueError(f"train.device {device!r} is not supported here; use cpu or cuda")
    return dev


@torch.no_grad()
def probe(learner, cfg: Config, norm: Normalizer, images) -> None:
    """One forward pass on one training image, in eval mode (no state changes), so that a model
    that cannot take the images (e.g. too small for its poolings) fails with a clear message."""
    try:
        with eval_mode(learner):  # the backbone alone: the learner's own transform may warn (SimpleShot)
            forward = learner.backbone if getattr(learner, "backbone", None) is not None else learner.embed
            forward(norm(gather(images, [0])))
    except RuntimeError as err:
        raise ValueError(f"backbone {cfg.model.backbone!r} cannot process the {cfg.data.name!r} images of "
                         f"shape {tuple(images.shape[1:])}: {str(err).splitlines()[0]}. A data.image_size "
                         "too small for the backbone's poolings is the usual cause") from None


def resume_state(ckpt_dir: Path, cfg: Config, learner, opt, sched, sampler) -> Optional[Dict[str, Any]]:
    """Load ``last.pt`` into the freshly built objects; None when there is no checkpoint yet."""
    path = ckpt_dir / "last.pt"
    if not path.is_file():
        return None
    state = load_checkpoint(path, map_location=cfg.train.device)
    check_state(state, path, resume=True)  # before anything is written (metrics.jsonl, run.json)
    check_compatible(state, cfg, path)
    # every key must match (the recipe's optimizer, schedule, warmup, grad_clip, augment_*, precision
    # included) but those of RESUME_MAY_CHANGE (fewshot/engine/resume.py), which are applied
    changes = resume_changes(state["config"], cfg.to_dict(), path, state["episode"])
    try:
        learner.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{str(path)!r} holds {describe(state)}, whose weights do not fit the "
                              f"model built from the config: {str(err).splitlines()[0]}") from None
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    apply_changes(changes, state, opt, sched, path)
    state["resume_changes"] = changes  # recorded in run.json by open_run_logs
    world_size = getattr(sampler, "world_size", 1)  # pre-training's EpochBatches has none
    if state["sampler"].get("world_size", 1) != world_size:
        raise CheckpointError(f"{str(path)!r} was written by a run on {state['sampler'].get('world_size', 1)} "
                              f"process(es) but this run has {world_size}; resume with the same "
                              "number (torchrun --nproc_per_node, fewshot train --nproc)")
    sampler.load_state_dict(state["sampler"])
    params = dict(learner.named_parameters())
    for name, grad in state["grads"].items():
        params[name].grad = grad.to(params[name].device)
    return state


def prepare_run(cfg: Config, run_dir: Path, main: bool = True):
    """What every training loop does first: run folders (written by the main process only), torch
    threads and determinism, seeds, the train / validation splits and the pixel normaliser.

    Returns (run_dir, ckpt_dir, train_split, val_split or None, in_channels, normalizer).
    """
    t = cfg.train
    if cfg.model.init:  # recorded as the file it was, wherever the run is evaluated from
        cfg.model.init = str(Path(cfg.model.init).expanduser().resolve())
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    if main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(ckpt_dir)
        remove_stale_temporaries(run_dir)
    if t.threads:
        torch.set_num_threads(t.threads)
    set_deterministic(t.deterministic)
    seed_everything(t.seed)
    train_split = load_from_config(cfg.data, cfg.data.train_split)
    val_split = load_from_config(cfg.data, cfg.data.val_split) if t.val_every else None
    in_channels = channels_of(train_split.images)
    norm = Normalizer(*pixel_stats(train_split.images), t.device)
    return run_dir, ckpt_dir, train_split, val_split, in_channels, norm


def validation_sampler(cfg: Config, val_split):
    """The validation episodes (the same every time), drawn as ``cfg.eval`` describes; None
    without validation. Built before training starts, so impossible settings fail at once."""
    if val_split is None:
        return None
    try:
        return build_sampler(cfg.eval, val_split, cfg.train.val_episodes, cfg.train.seed + 1,
                             k_shot=cfg.eval.shots[0], advance_epoch=False)
    except ValueError as err:
        raise (episode_error(err, val_split, "eval", cfg.eval.n_way, cfg.eval.shots[0], cfg.eval.n_query)
               if cfg.eval.episode_kind == "fixed" else err) from None


def resident_images(cfg: Config, images) -> Optional[torch.Tensor]:
    """The training images as one uint8 tensor on ``train.device`` when ``train.data_on_device``
    says so (null: on CUDA when they take under half of its free memory), else None (gathered
    from the host array per episode). Both paths give the same episodes and the same numbers."""
    t = cfg.train
    device = torch.device(t.device)
    wanted = t.data_on_device
    if wanted is None:
        wanted = device.type == "cuda" and images.nbytes < 0.5 * torch.cuda.mem_get_info(device)[0]
    if not wanted:
        return None
    return torch.from_numpy(np.ascontiguousarray(images)).to(device)


def gather_episode(images, resident: Optional[torch.Tensor], index: np.ndarray, pin: bool = False) -> torch.Tensor:
    """uint8 images of ``index``: from the device-resident tensor when there is one, else from the
    host array (``pin``: into page-locked memory, for a non-blocking copy to a GPU)."""
    if resident is None:
        x = gather(images, index)
        return x.pin_memory() if pin else x
    return resident[torch.from_numpy(np.asarray(index)).to(resident.device)]


def ahead(items: Iterator, load, depth: int) -> Iterator[Tuple[Any, Any]]:
    """``(item, load(item))`` for each item, in order; with ``depth > 0`` a background thread runs
    ``load`` for up to ``depth`` items ahead of the consumer. Items are drawn here, in the
    caller's thread (so a sampler is never iterated from two threads); only ``load`` runs in the
    background, and it must draw no random numbers (the checkpointed generators stay the caller's)."""
    if depth <= 0:
        for item in items:
            yield item, load(item)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    items = iter(items)
    with ThreadPoolExecutor(1, thread_name_prefix="fewshot-prefetch") as pool:
        def submit() -> None:
            for item in items:
                pending.append((item, pool.submit(load, item)))
                return

        for _ in range(depth):
            submit()
        while pending:
            item, future = pending.popleft()
            submit()
            yield item, future.result()


class EpisodeStep:
    """Episodic training's step: one episode (or a whole meta-batch, for learners that combine
    tasks) through ``learner.meta_batch_loss``; an optimiser step every ``train.meta_batch``
    episodes (counts are global over the ranks of a distributed run)."""

    unit = "episode"
    name = "train"

    def __init__(self, cfg: Config, learner, train_split, norm: Normalizer, sampler):
        t = cfg.train
        self.cfg, self.learner, self.split, self.norm, self.sampler = cfg, learner, train_split, norm, sampler
        self.world = ranks.world_size()
        self.grouped = learner.combines_tasks
        if self.grouped and t.meta_batch > 1 and sampler.fixed_shape is None:
            raise ValueError(f"learner {cfg.model.learner!r} combines the {t.meta_batch} episodes of a meta-batch, "
                             "which must share one shape; set train.episode_kind: fixed or train.meta_batch: 1 "
                             "(the MAML family: or model.options.engine: learn2learn, one task at a time)")
        # Distributed: each rank runs meta_batch / W episodes of every step, DDP averages the
        # gradients on the last one
        self.local_batch = t.meta_batch // self.world
        self.ddp = dist.wrap(learner)
        self.aug_support = Augment.parse(t.augment_support, "train.augment_support")
        self.aug_query = Augment.parse(t.augment_query, "train.augment_query")
        self.scaler = None  # set by fit for train.precision=16
        self.resident = resident_images(cfg, train_split.images)
        # host path: gathered ahead in the background (pinned for a GPU); None until run() starts
        cuda = torch.device(t.device).type == "cuda"
        depth = (2 if cuda else 0) if t.prefetch is None else t.prefetch
        self.prefetch = depth if self.resident is None else 0
        self.pin = self.prefetch > 0 and cuda
        self.consumed: Optional[int] = None

    def _augment(self, tasks, position: int):
        """Augmented support and query of each task, seeded by the episode (exact resumes)."""
        if not (self.aug_support.enabled or self.aug_query.enabled):
            return tasks
        seed = (self.cfg.train.seed * 1_000_003 + position) * max(1, self.world) + ranks.rank()
        g = torch.Generator().manual_seed(seed)
        mean, std = self.norm.mean, self.norm.std
        return [(self.aug_support(xs, g, mean, std), ys, self.aug_query(xq, g, mean, std), yq)
                for xs, ys, xq, yq in tasks]

    def run(self, position: int) -> Iterator[Tuple[int, Dict[str, torch.Tensor], bool]]:
        """Forward and backward of each group of episodes: yields (episodes, mean outputs over
        the ranks, whether the optimiser steps now)."""
        t = self.cfg.train
        # Episodes of this pass trained on, and drawn from the sampler (more, while prefetching).
        # The draws stop at the pass's last episode: exhausting the generator would move the
        # sampler to its next epoch before the final checkpoint (a longer resumed run then differs).
        self.consumed = self.drawn = 0
        remaining = len(self.sampler) - self.sampler.state_dict()["position"]

        def drawn(groups):
            for group in groups:
                self.drawn += len(group)
                yield group

        groups = drawn(meta_batches(itertools.islice(self.sampler.iter_episodes(), remaining),
                                    self.local_batch if self.grouped else 1))

        def load(group):
            return gather_episode(self.split.images, self.resident, np.concatenate([e.indices for e in group]),
                                  self.pin)

        for group, raw in ahead(groups, load, self.prefetch):
            x = self.norm(raw)
            if t.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            tasks = [episode_task(xe, e.spec) for xe, e in zip(x.split([len(e.indices) for e in group]), group)]
            n = len(group) * self.world
            position += n
            tasks = self._augment(tasks, position)
            stepping = position % t.meta_batch == 0 or position == t.episodes
            with dist.sync_context(self.ddp, stepping):
                with autocast(self.cfg):
                    if self.ddp is not None:
                        out = self.ddp(tasks, group[0].spec.n_way)
                    else:
                        out = self.learner.meta_batch_loss(tasks, group[0].spec.n_way)
                mean = ranks.mean_over_ranks(out)
                if torch.isfinite(mean["loss"]):
                    loss = out["loss"].float() * len(group) / self.local_batch
                    (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
            self.consumed += len(group)
            yield n, mean, stepping

    def sampler_state(self) -> Dict[str, int]:
        """Where the episode sequence stands for a checkpoint: after the episodes trained on, not
        after those the prefetch has drawn ahead."""
        if self.consumed is None or self.consumed == self.drawn:
            return self.sampler.state_dict()
        return self.sampler.state_dict(consumed=self.consumed)

    def before_checkpoint(self, position: int, validating: bool) -> None:
        pass

    def extra_state(self) -> Dict[str, Any]:
        return {}

    def load_extra(self, state: Dict[str, Any]) -> None:
        pass


def fit(cfg: Config, step, learner, opt, sched, run_dir: Path, ckpt_dir: Path, val_split, val_sampler,
        norm: Normalizer, in_channels: int, resume: bool) -> TrainResult:
    """The training loop both kinds of training share, from resume to the final checkpoint.

    ``step`` (an :class:`EpisodeStep` or a pre-training ``BatchStep``) runs forward and backward
    of each iteration and yields ``(count, mean outputs, stepping)``; this loop does the rest:
    the NaN guard, optimiser and schedule steps (the schedule once per counted unit), metrics
    rows every ``train.log_every``, validation with the best checkpoint every
    ``train.val_every``, the last checkpoint every ``train.ckpt_every`` and at the end.
    """
    t = cfg.train
    main = ranks.is_main()
    sampler = step.sampler
    scaler = torch.amp.GradScaler("cuda") if t.precision == "16" else None
    step.scaler = scaler
    state = resume_state(ckpt_dir, cfg, learner, opt, sched, sampler) if resume else None
    if resume and state is None:
        tqdm.write(f"no checkpoint in {ckpt_dir} yet: starting from {step.unit} 0")
    if state:
        step.load_extra(state)
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
    position, best_val = (state["episode"], state["best_val"]) if state else (0, None)
    # early stopping (train.patience): validations since the best one; a stopped run stays stopped
    since_best, stopped = (state.get("since_best", 0), state.get("stopped", False)) if state else (0, False)
    saved_at = position if state else None  # position of the newest checkpoint on disk
    log, window = open_run_logs(cfg, run_dir, state, main)
    if state:  # last: nothing above may draw random numbers after this
        restore_run_rng(state)

    def checkpoint() -> Dict[str, Any]:  # a collective under DDP: every rank builds it
        out = run_state(cfg, learner, opt, sched, getattr(step, "sampler_state", sampler.state_dict), norm,
                        in_channels, position, best_val, log, window)
        extra = {"scaler": scaler.state_dict()} if scaler is not None else {}
        return {**out, **step.extra_state(), **extra, "since_best": since_best, "stopped": stopped}

    start = time.perf_counter()
    bar = Progress(t.episodes, position, step.name, step.unit, t.progress, main)
    learner.train()
    last = None
    try:
        for n, mean, stepping in ([] if stopped else step.run(position)):
            position += n
            if not torch.isfinite(mean["loss"]):
                kept = (f"the last good checkpoint is kept: {ckpt_dir / 'last.pt'} ({step.unit} {saved_at})"
                        if saved_at else "no checkpoint had been written yet")
                raise TrainingError(f"{'training' if step.unit == 'episode' else 'pre-training'} stopped: the "
                                    f"loss became {mean['loss'].item()} at {step.unit} {position}; {kept}. "
                                    "Lower train.lr or check the data.")
            lr = opt.param_groups[0]["lr"]
            if stepping:
                if scaler is not None:
                    scaler.unscale_(opt)
                clip_gradients(learner.parameters(), t.grad_clip)
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                opt.zero_grad(set_to_none=True)
            with warnings.catch_warnings():  # the schedule counts episodes, also those of a meta-batch
                # before its first update: torch's "scheduler before optimizer" warning is moot here
                warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)` before", UserWarning)
                for _ in range(n):
                    sched.step()
            window.add(mean, n)
            bar.update(n)
            final = position == t.episodes
            if _crossed(position, n, t.log_every) or final:
                row = window.flush()
                log.write("train", position, lr=lr, **row)
                bar.row(position, row, lr)
            validate = val_split is not None and (_crossed(position, n, t.val_every) or final)
            step.before_checkpoint(position, validate)
            if validate:
                res = evaluate_sharded(evaluate, learner, val_split, norm, val_sampler)
                log.write("val", position, val_acc=res.mean, val_ci95=res.ci95)
                bar.write(f"{step.unit} {position}: validation {res}")
                if best_val is None or res.mean > best_val:
                    best_val, since_best = res.mean, 0
                    check_weights(learner, position, "the previous best.pt is kept")
                    best = checkpoint()
                    if main:
                        save_checkpoint(slim(best), ckpt_dir / "best.pt")
                else:
                    since_best += 1
                if t.patience and since_best >= t.patience and not final:
                    stopped = True
                    bar.write(f"{step.unit} {position}: early stop, no better validation in {since_best} "
                              f"validations (train.patience={t.patience}); best {100 * best_val:.2f}%")
            if _crossed(position, n, t.ckpt_every) or final or stopped:
                check_weights(learner, position, f"the last good checkpoint ({step.unit} {saved_at}) is kept")
                last = checkpoint()
                if main:
                    save_last(last, ckpt_dir, t.keep_last)
                saved_at = position
            if stopped:
                break
    finally:
        bar.close()
        log.close()
    if val_split is None and main:  # no validation: the final weights are the "best"
        if last is None:  # a resumed run that had already finished
            last = load_checkpoint(ckpt_dir / "last.pt")
        save_checkpoint(slim(last), ckpt_dir / "best.pt")
    ranks.barrier()  # the other ranks read the checkpoints next (final evaluation)
    return TrainResult(run_dir, position, best_val, time.perf_counter() - start)


def train(cfg: Config, run_dir: Path, resume: bool = False) -> TrainResult:
    """Train ``cfg.model`` episodically on ``cfg.data.train_split``; write everything to ``run_dir``.

    With ``resume=True`` the run continues from ``run_dir/checkpoints/last.pt`` (or starts from
    episode 0 when the run was stopped before its first checkpoint).
    """
    t = cfg.train
    if cfg.model.learner in LEARNERS and LEARNERS.info(cfg.model.learner).get("training") == "batches":
        raise ValueError(f"learner {cfg.model.learner!r} trains on batches of images, not on episodes: train it "
                         "with fewshot.engine.pretrain.pretrain (fewshot train picks the trainer the learner "
                         "declares)")
    t.device = str(check_device(t.device))  # auto resolved: config.yaml records the device used
    check_precision(cfg)
    dist.check_train(t)
    world = ranks.world_size()
    run_dir, ckpt_dir, train_split, val_split, in_channels, norm = prepare_run(cfg, run_dir, ranks.is_main())
    learner = prepare_model(cfg, build_learner(cfg, in_channels, load_init=not resume,
                                               input_std=norm.std.flatten().tolist()).to(t.device))
    opt = make_optimizer(cfg, learner.parameters())
    sched = make_schedule(cfg, opt)
    try:
        sampler = build_sampler(t, train_split, t.episodes, t.seed, classes=cfg.data.train_classes,
                                tasks=cfg.data.train_tasks, subset_seed=cfg.data.subset_seed)
    except ValueError as err:
        raise (episode_error(err, train_split, "train", t.n_way, t.k_shot, t.n_query)
               if t.episode_kind == "fixed" else err) from None
    val_sampler = validation_sampler(cfg, val_split)
    if world > 1:  # rank r draws global episodes r, r + W, ...; its own random numbers
        sampler = sampler.shard(ranks.rank(), world)
        seed_everything(ranks.rank_seed(t.seed))
    probe(learner, cfg, norm, train_split.images)
    step = EpisodeStep(cfg, learner, train_split, norm, sampler)
    return fit(cfg, step, learner, opt, sched, run_dir, ckpt_dir, val_split, val_sampler, norm, in_channels,
               resume)

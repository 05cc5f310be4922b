"""Episodic training: the loop, top to bottom, plus small helpers beside it.

Resuming is exact: a checkpoint holds the model, optimiser, scheduler, sampler position, every
global RNG state, gradients accumulated towards an unfinished meta-batch, the running sums of the
current metrics window and the size of the metrics log. A run killed at any moment and resumed
from ``checkpoints/last.pt`` replays the episodes after that checkpoint and ends with the same
weights and the same metrics log rows as a run that was never interrupted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from episodes.interpolate import meta_batches

from ..config import Config
from ..data.registry import load_from_config
from ..evaluation import evaluate
from ..reporting.metrics import MetricsLog
from ..reporting.provenance import record_run
from ..reporting.tensorboard import open_tensorboard
from . import distributed as dist
from .build import build_learner
from .checkpoint import (
    FORMAT,
    CheckpointError,
    atomic_write_text,
    check_compatible,
    copy_checkpoint,
    describe,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from .inputs import Normalizer, channels_of, gather, pixel_stats
from .rng import capture_rng, restore_rng, seed_everything, set_deterministic
from .sampling import EPISODE_KEYS, build_sampler, episode_task

__all__ = ["train", "TrainResult", "TrainingError", "check_device", "episode_error", "probe", "seed_everything"]


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


def run_state(cfg, learner, opt, sched, sampler, norm, in_channels, episode, best_val, log, window
           ) -> Dict[str, Any]:
    grads = {}
    if episode % cfg.train.meta_batch:  # mid meta-batch: the accumulated gradients are state too
        grads = {n: p.grad.detach().clone() for n, p in learner.named_parameters() if p.grad is not None}
    return {
        "format": FORMAT, "config": cfg.to_dict(), "episode": episode, "best_val": best_val,
        "model": learner.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "sampler": sampler.state_dict(), "rng": capture_rng(), "grads": grads,
        "metrics_offset": log.offset, "window": window.state_dict(),
        "norm": {"mean": norm.mean.flatten().tolist(), "std": norm.std.flatten().tolist()},
        "in_channels": in_channels, "learner": cfg.model.learner, "backbone": cfg.model.backbone,
        # distributed: every rank's generators (a collective: all ranks build the state)
        **({"rng_by_rank": dist.all_gather_object(capture_rng())} if dist.world_size() > 1 else {}),
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
        record_run(run_dir, resumed_from=resumed_from)
    tb = open_tensorboard(run_dir / "tensorboard", resumed_from) if cfg.train.tensorboard and main else None
    log = (MetricsLog(run_dir / "metrics.jsonl", state["metrics_offset"] if state else None, resumed_from or 0, tb)
           if main else dist.NullLog())
    return log, MetricWindow(state["window"] if state else None)


def restore_run_rng(state: Dict[str, Any]) -> None:
    """This process's random generators as the checkpoint saved them (each rank its own)."""
    restore_rng(state["rng_by_rank"][dist.rank()] if dist.world_size() > 1 else state["rng"])


def save_last(state: Dict[str, Any], ckpt_dir: Path, keep_last: int) -> None:
    """``last.pt`` plus the ``keep_last`` most recent ``episode-NNNNNNN.pt`` snapshots."""
    if not keep_last:
        save_checkpoint(state, ckpt_dir / "last.pt")
        return
    snapshot = save_checkpoint(state, ckpt_dir / f"episode-{state['episode']:07d}.pt")
    copy_checkpoint(snapshot, ckpt_dir / "last.pt")
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
    """``train.device`` as a torch.device, or a ValueError saying what is available."""
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
    was_training = learner.training
    learner.eval()
    try:
        learner.embed(norm(gather(images, [0])))
    except RuntimeError as err:
        raise ValueError(f"backbone {cfg.model.backbone!r} cannot process the {cfg.data.name!r} images of "
                         f"shape {tuple(images.shape[1:])}: {str(err).splitlines()[0]}. A data.image_size "
                         "too small for the backbone's poolings is the usual cause") from None
    finally:
        learner.train(was_training)


def resume_state(ckpt_dir: Path, cfg: Config, learner, opt, sched, sampler) -> Optional[Dict[str, Any]]:
    """Load ``last.pt`` into the freshly built objects; None when there is no checkpoint yet."""
    path = ckpt_dir / "last.pt"
    if not path.is_file():
        return None
    state = load_checkpoint(path, map_location=cfg.train.device)
    check_compatible(state, cfg, path)
    saved = state["config"]["train"]
    for key in ("episodes", "n_way", "k_shot", "n_query", "meta_batch", "seed") + EPISODE_KEYS:
        if saved.get(key, getattr(cfg.train, key)) != getattr(cfg.train, key):
            raise CheckpointError(f"{str(path)!r} was written with train.{key}={saved[key]!r} but the "
                                  f"config now says {getattr(cfg.train, key)!r}; an exact resume needs the "
                                  "same value (start a new run to change it)")
    try:
        learner.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{str(path)!r} holds {describe(state)}, whose weights do not fit the "
                              f"model built from the config: {str(err).splitlines()[0]}") from None
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
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


def train(cfg: Config, run_dir: Path, resume: bool = False) -> TrainResult:
    """Train ``cfg.model`` episodically on ``cfg.data.train_split``; write everything to ``run_dir``.

    With ``resume=True`` the run continues from ``run_dir/checkpoints/last.pt`` (or starts from
    episode 0 when the run was stopped before its first checkpoint).
    """
    t = cfg.train
    check_device(t.device)
    dist.check_train(t)
    world, main = dist.world_size(), dist.is_main()  # distributed: only rank 0 writes files
    run_dir, ckpt_dir, train_split, val_split, in_channels, norm = prepare_run(cfg, run_dir, main)
    learner = build_learner(cfg, in_channels).to(t.device)
    opt = torch.optim.Adam(learner.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t.lr_step, gamma=t.lr_gamma)
    try:
        sampler = build_sampler(t, train_split, t.episodes, t.seed, classes=cfg.data.train_classes,
                                tasks=cfg.data.train_tasks, subset_seed=cfg.data.subset_seed)
    except ValueError as err:
        raise (episode_error(err, train_split, "train", t.n_way, t.k_shot, t.n_query)
               if t.episode_kind == "fixed" else err) from None
    val_sampler = None
    if val_split is not None:  # fail now, not at the first validation; the same episodes every time
        try:
            val_sampler = build_sampler(cfg.eval, val_split, t.val_episodes, t.seed + 1,
                                        k_shot=cfg.eval.shots[0], advance_epoch=False)
        except ValueError as err:
            raise (episode_error(err, val_split, "eval", cfg.eval.n_way, cfg.eval.shots[0], cfg.eval.n_query)
                   if cfg.eval.episode_kind == "fixed" else err) from None
    if world > 1:  # rank r draws global episodes r, r + W, ...; its own random numbers
        sampler = sampler.shard(dist.rank(), world)
        seed_everything(dist.rank_seed(t.seed))
    probe(learner, cfg, norm, train_split.images)
    state = resume_state(ckpt_dir, cfg, learner, opt, sched, sampler) if resume else None
    if resume and state is None:
        tqdm.write(f"no checkpoint in {ckpt_dir} yet: starting from episode 0")
    episode, best_val = (state["episode"], state["best_val"]) if state else (0, None)
    saved_at = episode if state else None  # episode of the newest checkpoint on disk
    log, window = open_run_logs(cfg, run_dir, state, main)
    if state:  # last: nothing above may draw random numbers after this
        restore_run_rng(state)

    start = time.perf_counter()
    bar = tqdm(total=t.episodes, initial=episode, desc="train", disable=not (t.progress and main),
               dynamic_ncols=True)
    # Learners with ``meta_batch_loss`` (task interpolation pairs tasks across a meta-batch) get the
    # ``train.meta_batch`` episodes of an optimiser step together; the others one episode at a time.
    grouped = hasattr(learner, "meta_batch_loss")
    if grouped and t.meta_batch > 1 and sampler.fixed_shape is None:
        bar.close()
        raise ValueError(f"learner {cfg.model.learner!r} combines the {t.meta_batch} episodes of a meta-batch, "
                         "which must share one shape; set train.episode_kind: fixed or train.meta_batch: 1")
    learner.train()
    # Distributed: each rank runs meta_batch / W episodes of every step (episode counts are global),
    # DDP averages the gradients on the last one; ``mean`` is ``out`` averaged over the ranks.
    step, local_batch = dist.wrap(learner), t.meta_batch // world
    try:
        for group in meta_batches(sampler.iter_episodes(), local_batch if grouped else 1):
            x = norm(gather(train_split.images, np.concatenate([e.indices for e in group])))
            tasks = [episode_task(xe, e.spec) for xe, e in zip(x.split([len(e.indices) for e in group]), group)]
            n = len(group) * world
            episode += n
            stepping = episode % t.meta_batch == 0 or episode == t.episodes
            with dist.sync_context(step, stepping):
                if step is not None:
                    out = step(tasks, group[0].spec.n_way, grouped)
                elif grouped:
                    out = learner.meta_batch_loss(tasks, group[0].spec.n_way)
                else:
                    out = learner.episode_loss(*tasks[0], group[0].spec.n_way)
                mean = dist.mean_over_ranks(out)
                if not torch.isfinite(mean["loss"]):
                    kept = (f"the last good checkpoint is kept: {ckpt_dir / 'last.pt'} (episode {saved_at})"
                            if saved_at else "no checkpoint had been written yet")
                    raise TrainingError(f"training stopped: the loss became {mean['loss'].item()} at episode "
                                        f"{episode}; {kept}. Lower train.lr or check the data.")
                (out["loss"] * len(group) / local_batch).backward()
            lr = opt.param_groups[0]["lr"]
            if stepping:
                opt.step()
                opt.zero_grad(set_to_none=True)
            for _ in range(n):
                sched.step()
            window.add(mean, n)
            bar.update(n)
            if _crossed(episode, n, t.log_every) or episode == t.episodes:
                row = window.flush()
                log.write("train", episode, lr=lr, **row)
                bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['acc']:.3f}")
            if val_split is not None and (_crossed(episode, n, t.val_every) or episode == t.episodes):
                res = dist.evaluate_sharded(evaluate, learner, val_split, norm, val_sampler)
                log.write("val", episode, val_acc=res.mean, val_ci95=res.ci95)
                if main:
                    bar.write(f"episode {episode}: validation {res}")
                if best_val is None or res.mean > best_val:
                    best_val = res.mean
                    check_weights(learner, episode, "the previous best.pt is kept")
                    best = run_state(cfg, learner, opt, sched, sampler, norm, in_channels, episode, best_val, log,
                                  window)
                    if main:
                        save_checkpoint(best, ckpt_dir / "best.pt")
            if _crossed(episode, n, t.ckpt_every) or episode == t.episodes:
                check_weights(learner, episode, f"the last good checkpoint (episode {saved_at}) is kept")
                last = run_state(cfg, learner, opt, sched, sampler, norm, in_channels, episode, best_val, log, window)
                if main:
                    save_last(last, ckpt_dir, t.keep_last)
                saved_at = episode
    finally:
        bar.close()
        log.close()
    if val_split is None and main:  # no validation: the final weights are the "best"
        copy_checkpoint(ckpt_dir / "last.pt", ckpt_dir / "best.pt")
    dist.barrier()  # the other ranks read the checkpoints next (final evaluation)
    return TrainResult(run_dir, episode, best_val, time.perf_counter() - start)

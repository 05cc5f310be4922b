"""Episodic training: the loop, top to bottom, plus small helpers beside it."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from episodes import EpisodeSampler

from ..config import Config, save_config
from ..data.registry import load_from_config
from ..evaluation import episode_labels, evaluate
from .build import build_learner
from .checkpoint import load_checkpoint, save_checkpoint
from .inputs import Normalizer, channels_of, gather, pixel_stats


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    episodes: int
    best_val: Optional[float]
    seconds: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (never rewrites it)."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, **row) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def _state(cfg, learner, opt, sched, sampler, episode, best_val, norm, in_channels) -> Dict:
    return {
        "format": "fewshot-checkpoint-v1", "config": cfg.to_dict(), "episode": episode,
        "model": learner.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(), "sampler": sampler.state_dict(),
        "torch_rng": torch.get_rng_state(), "best_val": best_val,
        "norm": {"mean": norm.mean.flatten().tolist(), "std": norm.std.flatten().tolist()},
        "in_channels": in_channels, "learner": cfg.model.learner, "backbone": cfg.model.backbone,
    }


def _save_last(state: Dict, ckpt_dir: Path, episode: int, keep_last: int) -> None:
    """``last.pt`` plus the ``keep_last`` most recent ``episode-NNNNNNN.pt`` snapshots."""
    save_checkpoint(state, ckpt_dir / "last.pt")
    if keep_last:
        save_checkpoint(state, ckpt_dir / f"episode-{episode:07d}.pt")
        for old in sorted(ckpt_dir.glob("episode-*.pt"))[:-keep_last]:
            old.unlink()


def train(cfg: Config, run_dir: Path, resume: bool = False) -> TrainResult:
    """Train ``cfg.model`` episodically on ``cfg.data.train_split``; write everything to ``run_dir``."""
    t = cfg.train
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    if t.threads:
        torch.set_num_threads(t.threads)
    seed_everything(t.seed)

    train_split = load_from_config(cfg.data, cfg.data.train_split)
    val_split = load_from_config(cfg.data, cfg.data.val_split) if t.val_every else None
    in_channels = channels_of(train_split.images)
    mean, std = pixel_stats(train_split.images)
    norm = Normalizer(mean, std, t.device)
    learner = build_learner(cfg, in_channels).to(t.device)
    opt = torch.optim.Adam(learner.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t.lr_step, gamma=t.lr_gamma)
    sampler = EpisodeSampler(train_split.labels, n_way=t.n_way, k_shot=t.k_shot,
                             n_query=t.n_query, n_episodes=t.episodes, seed=t.seed)
    episode, best_val = 0, None
    if resume:
        state = load_checkpoint(ckpt_dir / "last.pt", map_location=t.device)
        learner.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        episode, best_val = state["episode"], state["best_val"]

    log = MetricsLog(run_dir / "metrics.jsonl")
    ys = episode_labels(t.n_way, t.k_shot, t.device)
    yq = episode_labels(t.n_way, t.n_query, t.device)
    n_support = t.n_way * t.k_shot
    sums: Dict[str, float] = {}
    seen, tick, start = 0, time.perf_counter(), time.perf_counter()
    bar = tqdm(total=t.episodes, initial=episode, desc="train", disable=not t.progress,
               dynamic_ncols=True)
    learner.train()
    for index in sampler:
        x = norm(gather(train_split.images, index))
        out = learner.episode_loss(x[:n_support], ys, x[n_support:], yq, t.n_way)
        if not torch.isfinite(out["loss"]):
            raise TrainingError(
                f"loss became {out['loss'].item()} at episode {episode + 1}; the last good "
                f"checkpoint is kept in {ckpt_dir}. Try a lower train.lr.")
        (out["loss"] / t.meta_batch).backward()
        episode += 1
        if episode % t.meta_batch == 0 or episode == t.episodes:
            opt.step()
            opt.zero_grad(set_to_none=True)
        sched.step()
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        seen += 1
        bar.update(1)
        if episode % 10 == 0 or episode == t.episodes:
            bar.set_postfix(loss=f"{sums['loss'] / seen:.3f}", acc=f"{sums['acc'] / seen:.3f}")
        if episode % 50 == 0 or episode == t.episodes:
            now = time.perf_counter()
            log.write(kind="train", episode=episode, lr=opt.param_groups[0]["lr"],
                      episodes_per_s=seen / max(now - tick, 1e-9),
                      **{k: v / seen for k, v in sums.items()})
            sums, seen, tick = {}, 0, now
        if val_split is not None and (episode % t.val_every == 0 or episode == t.episodes):
            res = evaluate(learner, val_split, norm, n_way=cfg.eval.n_way, k_shot=cfg.eval.shots[0],
                           n_query=cfg.eval.n_query, episodes=t.val_episodes, seed=t.seed + 1)
            log.write(kind="val", episode=episode, val_acc=res.mean, val_ci95=res.ci95)
            bar.write(f"episode {episode}: validation {res}")
            if best_val is None or res.mean > best_val:
                best_val = res.mean
                save_checkpoint(_state(cfg, learner, opt, sched, sampler, episode, best_val, norm,
                                       in_channels), ckpt_dir / "best.pt")
        if (t.ckpt_every and episode % t.ckpt_every == 0) or episode == t.episodes:
            state = _state(cfg, learner, opt, sched, sampler, episode, best_val, norm, in_channels)
            _save_last(state, ckpt_dir, episode, t.keep_last)
    bar.close()
    if val_split is None:  # no validation: the final weights are the "best"
        save_checkpoint(_state(cfg, learner, opt, sched, sampler, episode, best_val, norm,
                               in_channels), ckpt_dir / "best.pt")
    return TrainResult(run_dir, episode, best_val, time.perf_counter() - start)

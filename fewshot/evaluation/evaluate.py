"""Episodic evaluation: mean accuracy and 95% confidence interval over many test episodes.

Two paths give the same episodes (same sampler, same seed):

* feature-cached (default for learners with ``uses_features``): the backbone runs once over the
  split, then every episode is a gather over the cached features;
* per-episode: images of each episode go through ``fit_support`` / ``forward``, as for learners
  that adapt to the support (MAML family).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from episodes import EpisodeSampler

from ..engine.inputs import Normalizer, gather


def ci95(accuracies: np.ndarray) -> float:
    """1.96 * std / sqrt(n) (population std, as in the reference implementations)."""
    acc = np.asarray(accuracies, dtype=np.float64)
    return float(1.96 * acc.std() / np.sqrt(len(acc)))


@dataclass
class EvalResult:
    split: str
    n_way: int
    k_shot: int
    n_query: int
    accuracies: np.ndarray = field(repr=False)  # (episodes,) in [0, 1]
    seconds: float = 0.0
    method: str = "inductive"

    @property
    def episodes(self) -> int:
        return len(self.accuracies)

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def ci95(self) -> float:
        return ci95(self.accuracies)

    def summary(self) -> Dict[str, object]:
        return {
            "split": self.split, "n_way": self.n_way, "k_shot": self.k_shot,
            "n_query": self.n_query, "episodes": self.episodes, "method": self.method,
            "accuracy": round(100 * self.mean, 3), "ci95": round(100 * self.ci95, 3),
            "ms_per_episode": round(1000 * self.seconds / max(1, self.episodes), 4),
        }

    def __str__(self) -> str:
        return (f"{self.split} {self.n_way}-way {self.k_shot}-shot ({self.method}): "
                f"{100 * self.mean:.2f} +- {100 * self.ci95:.2f}% over {self.episodes} episodes")


def episode_labels(n_way: int, per_class: int, device=None) -> torch.Tensor:
    """Labels of a class-major block: [0]*per_class + [1]*per_class + ..."""
    return torch.arange(n_way, device=device).repeat_interleave(per_class)


@torch.no_grad()
def embed_split(learner, images: np.ndarray, normalizer: Normalizer, batch_size: int = 500,
                progress: bool = False) -> torch.Tensor:
    """Backbone features of every image of a split: (N, D), computed once, in eval mode."""
    was_training = learner.training
    learner.eval()
    chunks = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="embedding", disable=not progress, leave=False):
        x = normalizer(torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])))
        chunks.append(learner.embed(x))
    learner.train(was_training)
    return torch.cat(chunks)


def evaluate(learner, split, normalizer: Normalizer, n_way: int = 5, k_shot: int = 1,
             n_query: int = 15, episodes: int = 1000, seed: int = 1234,
             feature_cache: Optional[bool] = None, features: Optional[torch.Tensor] = None,
             progress: bool = False) -> EvalResult:
    """Evaluate ``learner`` on ``episodes`` N-way K-shot episodes of ``split`` (an ImageSplit).

    Args:
        feature_cache: embed the split once (default when the learner allows it).
        features: precomputed (N, D) features of the split, reused across calls.
    """
    if feature_cache is None:
        feature_cache = learner.uses_features
    sampler = EpisodeSampler(split.labels, n_way=n_way, k_shot=k_shot, n_query=n_query,
                             n_episodes=episodes, seed=seed)
    device = normalizer.device
    ys = episode_labels(n_way, k_shot, device)
    yq = episode_labels(n_way, n_query, device)
    n_support = n_way * k_shot
    was_training = learner.training
    learner.eval()
    start = time.perf_counter()
    if feature_cache and features is None:
        features = embed_split(learner, split.images, normalizer, progress=progress)
    accs: List[float] = []
    for index in tqdm(sampler, total=len(sampler), desc=f"eval {n_way}w{k_shot}s",
                      disable=not progress, leave=False):
        index = torch.as_tensor(index)
        if feature_cache:
            z = features[index.to(features.device)]
            with torch.no_grad():
                logits = learner.logits_from_features(z[:n_support], ys, z[n_support:], n_way)
        else:
            x = normalizer(gather(split.images, index.numpy()))
            with torch.enable_grad():  # gradient-based learners adapt on the support
                learner.fit_support(x[:n_support], ys, n_way)
            with torch.no_grad():
                logits = learner(x[n_support:])
        accs.append((logits.argmax(1) == yq).float().mean().item())
    learner.train(was_training)
    return EvalResult(split=getattr(split, "name", "split"), n_way=n_way, k_shot=k_shot,
                      n_query=n_query, accuracies=np.asarray(accs),
                      seconds=time.perf_counter() - start)

"""Episodic evaluation: mean accuracy and 95% confidence interval over many test episodes.

Two paths give the same episodes (same sampler, same seed):

* feature-cached (default for learners with ``uses_features``): the backbone runs once over the
  split, then every episode is a gather over the cached features;
* per-episode: images of each episode go through ``fit_support`` / ``forward``, as for learners
  that adapt to the support (MAML family).

The episodes come from a sampler: ``episodes.EpisodeSampler(split.labels, n_way, k_shot,
n_query, n_episodes, seed)`` for N-way K-shot episodes, or any :class:`episodes.SpecSampler`
(e.g. from :func:`fewshot.runs.episodes.build_sampler`) for variable-way variable-shot,
imbalanced or multi-domain ones. Every result records the ways and shots of its episodes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from episodes import ByDomain, Describer, FixedShots, ImbalancedShots, SpecSampler, VariableWaysShots

from ..learners.base import eval_mode
from ..runs.episodes import spec_labels
from ..runs.inputs import Normalizer, gather


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
    # Shape of the episodes (n_way / k_shot / n_query are 0 where they vary from episode to episode):
    episode_kind: str = "fixed"  # fixed | variable | imbalanced (the describer's kind)
    ways: Optional[np.ndarray] = field(default=None, repr=False)  # (episodes,) ways of each episode
    shots: Optional[np.ndarray] = field(default=None, repr=False)  # (sum of ways,) shots of every class
    queries: Optional[np.ndarray] = field(default=None, repr=False)  # (sum of ways,) queries per class
    domains: Optional[np.ndarray] = field(default=None, repr=False)  # (episodes,) domain id, -1 = none
    domain_names: Optional[List[str]] = None
    seed: Optional[int] = None  # the sampler's seed, when the caller recorded it

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
            **self.shape_summary(),
        }

    def shape_summary(self) -> Dict[str, object]:
        """Distribution of ways, shots and queries (mean/min/max) and accuracy per domain."""
        if self.ways is None:
            return {}
        out: Dict[str, object] = {"episode_kind": self.episode_kind}
        for key, values in (("ways", self.ways), ("shots", self.shots), ("queries", self.queries)):
            v = np.asarray(values)
            out[key] = {"mean": round(float(v.mean()), 3), "min": int(v.min()), "max": int(v.max())}
        if self.domains is not None and (self.domains >= 0).any():
            names = self.domain_names or []
            out["per_domain"] = {
                (names[d] if d < len(names) else str(d)): {
                    "episodes": int((self.domains == d).sum()),
                    "accuracy": round(100 * float(self.accuracies[self.domains == d].mean()), 3),
                    "ci95": round(100 * ci95(self.accuracies[self.domains == d]), 3)}
                for d in np.unique(self.domains[self.domains >= 0]).tolist()}
        return out

    def __str__(self) -> str:
        tail = (f"({self.method}): {100 * self.mean:.2f} +- {100 * self.ci95:.2f}% over "
                f"{self.episodes} episodes")
        if self.episode_kind == "fixed" or self.ways is None:
            return f"{self.split} {self.n_way}-way {self.k_shot}-shot {tail}"
        w, k = self.ways, self.shots
        return (f"{self.split} {self.episode_kind} episodes (ways {w.min()}-{w.max()}, mean {w.mean():.1f}; "
                f"shots {k.min()}-{k.max()}, mean {k.mean():.1f}) {tail}")


def episode_labels(n_way: int, per_class: int, device=None) -> torch.Tensor:
    """Labels of a class-major block: [0]*per_class + [1]*per_class + ..."""
    return torch.arange(n_way, device=device).repeat_interleave(per_class)


@torch.no_grad()
def embed_split(learner, images: np.ndarray, normalizer: Normalizer, batch_size: Optional[int] = None,
                progress: bool = False) -> torch.Tensor:
    """Backbone features of every image of a split: (N, D), computed once, in eval mode.

    ``batch_size`` defaults to 64 on a CPU, where activations of small batches stay in the caches
    (measured: Conv4 at 28x28 embeds about 2x faster per image than in batches of 500), and to 512
    on a GPU.
    """
    if batch_size is None:
        batch_size = 64 if normalizer.device.type == "cpu" else 512
    chunks = []
    starts = range(0, len(images), batch_size)
    with eval_mode(learner):
        for start in tqdm(starts, desc="embedding", disable=None if progress else True, leave=False):
            x = normalizer(torch.from_numpy(np.array(images[start:start + batch_size])))
            chunks.append(learner.embed(x))
    return torch.cat(chunks)


def _kind(describer) -> str:
    """fixed / variable / imbalanced for the built-in describers (through domain and hierarchy
    wrappers), else the describer's class name."""
    while isinstance(getattr(describer, "inner", getattr(describer, "describer", None)), Describer):
        describer = getattr(describer, "inner", getattr(describer, "describer", None))
    kinds = {FixedShots: "fixed", VariableWaysShots: "variable", ImbalancedShots: "imbalanced"}
    return kinds.get(type(describer), type(describer).__name__)


def _common(values: List[np.ndarray]) -> int:
    """The one value all arrays hold, or 0 when it varies."""
    flat = np.concatenate(values)
    return int(flat[0]) if len(flat) and (flat == flat[0]).all() else 0


def evaluate(learner, split, normalizer: Normalizer, sampler: SpecSampler, *,
             feature_cache: Optional[bool] = None, features: Optional[torch.Tensor] = None,
             progress: bool = False, chunk: Optional[int] = None) -> EvalResult:
    """Evaluate ``learner`` on the episodes ``sampler`` draws from ``split`` (an ImageSplit).

    Args:
        sampler: any :class:`episodes.SpecSampler` over ``split.labels`` (e.g.
            ``EpisodeSampler(split.labels, n_way=5, k_shot=1, n_query=15, n_episodes=1000,
            seed=1234)`` or :func:`fewshot.runs.episodes.build_sampler`; build it with
            ``advance_epoch=False`` to evaluate the same episodes every call).
        feature_cache: embed the split once (default when the learner allows it).
        features: precomputed (N, D) features of the split, reused across calls.
        chunk: episodes of one shape handed to the learner together (``eval.chunk``; None: 16
            image episodes or 256 feature episodes; the learner may split them further, e.g. the
            vectorised MAML engine by its memory budget). Results do not depend on it.

    Returns:
        EvalResult with the accuracy of every episode and its ways, shots and queries;
        ``n_way`` / ``k_shot`` / ``n_query`` are 0 where they vary between episodes.
    """
    if feature_cache is None:
        feature_cache = learner.uses_features
    if sampler.index.n_samples != len(split.labels):
        raise ValueError(f"the sampler was built over {sampler.index.n_samples} labels but split "
                         f"{getattr(split, 'name', 'split')!r} has {len(split)} images; build it from "
                         "split.labels")
    device = normalizer.device
    with eval_mode(learner):
        return _evaluate(learner, split, normalizer, sampler, feature_cache, features, progress, device, chunk)


def _groups(episodes, size: int):
    """Consecutive runs of up to ``size`` episodes of one shape (so they stack)."""
    group = []
    for episode in episodes:
        if group and (len(group) == size or episode.spec.support_size != group[0].spec.support_size
                      or episode.spec.query_size != group[0].spec.query_size
                      or episode.spec.n_way != group[0].spec.n_way):
            yield group
            group = []
        group.append(episode)
    if group:
        yield group


def _evaluate(learner, split, normalizer, sampler, feature_cache, features, progress, device,
              chunk: Optional[int]) -> EvalResult:
    start = time.perf_counter()
    if feature_cache and features is None:
        features = embed_split(learner, split.images, normalizer, progress=progress)
    accs: List[float] = []
    ways, shots, queries, domains = [], [], [], []
    shape = sampler.fixed_shape
    desc = f"eval {shape[0]}w{shape[1]}s" if shape else f"eval {_kind(sampler.describer)}"
    # Episodes of one shape go to the learner together (``adapt_many`` / ``logits_from_features_many``:
    # one episode after the other by default, all at once where a learner batches them).
    size = 1 if shape is None else (chunk or (256 if feature_cache else 16))
    bar = tqdm(total=len(sampler), desc=desc, disable=None if progress else True, leave=False)
    for group in _groups(sampler.iter_episodes(), size):
        spec = group[0].spec
        n_support = spec.support_size
        labels = [spec_labels(e.spec, device) for e in group]
        ys = torch.stack([y for y, _ in labels])
        index = np.stack([e.indices for e in group])
        if feature_cache:
            z = features[torch.from_numpy(index).to(features.device)]
            logits = learner.logits_from_features_many(z[:, :n_support], ys, z[:, n_support:], spec.n_way, chunk)
        else:
            x = normalizer(gather(split.images, index.reshape(-1)))
            x = x.view(len(group), -1, *x.shape[1:])
            logits = learner.adapt_many(x[:, :n_support], ys, x[:, n_support:], spec.n_way, chunk)
        for episode, (_, yq), lg in zip(group, labels, logits):
            accs.append((lg.argmax(1) == yq).float().mean().item())
            ways.append(np.array([episode.spec.n_way]))
            shots.append(episode.spec.n_support)
            queries.append(episode.spec.n_query)
            domains.append(-1 if episode.spec.domain is None else episode.spec.domain)
        bar.update(len(group))
    bar.close()
    return EvalResult(split=getattr(split, "name", "split"), n_way=_common(ways), k_shot=_common(shots),
                      n_query=_common(queries), accuracies=np.asarray(accs),
                      seconds=time.perf_counter() - start, episode_kind=_kind(sampler.describer),
                      ways=np.concatenate(ways), shots=np.concatenate(shots),
                      queries=np.concatenate(queries), domains=np.asarray(domains, dtype=np.int64),
                      domain_names=_domain_names(split, sampler.describer))


def _domain_names(split, describer) -> Optional[List[str]]:
    names = getattr(split, "meta", {}).get("domain_names")
    return list(names) if names is not None and isinstance(describer, ByDomain) else None

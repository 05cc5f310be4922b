"""Transductive (or any feature-level) evaluation over cached features, batched over episodes.

The episodes are those of :func:`~fewshot.evaluation.evaluate.evaluate` for the same labels,
shots and seed (same :class:`episodes.EpisodeSampler`), so inductive and transductive numbers
are paired. All episodes are drawn first, then processed in chunks of ``chunk`` episodes as
(E, S, D) / (E, Q, D) tensors by a method of :mod:`fewshot.transductive`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm.auto import tqdm

from ..transductive import NORMS, get_method, preprocess, run_method
from .evaluate import EvalResult, episode_labels

LAMBDA_GRID = (0.1, 0.3, 0.5, 0.7, 0.8, 1.0, 1.2, 1.5)  # LaplacianShot's validation grid


@dataclass
class TransductiveSpec:
    """What ``fewshot eval --transductive`` asked for, validated up front.

    Attributes:
        method: registered method name.
        options: its keyword options (``lam`` included when given).
        norm: feature normalisation ("none", "l2", "center", "cl2n", "episode-cl2n").
        shift: shift queries by the support-query mean difference.
        tune_lambda: choose ``lam`` per shot setting on the validation split.
        lambda_grid: candidates for the tuning.
        val_episodes: validation episodes per candidate.
        chunk: episodes per batch.
    """

    method: str
    options: Dict[str, object] = field(default_factory=dict)
    norm: str = "cl2n"
    shift: bool = False
    tune_lambda: bool = False
    lambda_grid: Sequence[float] = LAMBDA_GRID
    val_episodes: int = 500
    chunk: int = 200

    def __post_init__(self) -> None:
        info = get_method(self.method)
        unknown = sorted(set(self.options) - set(info.options))
        if unknown:
            raise ValueError(f"method {self.method!r} has no option(s) {', '.join(unknown)}; "
                             f"its options: {', '.join(info.options) or '(none)'}")
        if self.norm not in NORMS:
            raise ValueError(f"unknown feature normalisation {self.norm!r}; choose one of {', '.join(NORMS)}")
        if self.tune_lambda and not info.has_lambda:
            raise ValueError(f"method {self.method!r} has no Laplacian weight to tune; use one of "
                             "laplacian-kmeans, laplacian-kmodes, laplacianshot")
        if self.tune_lambda and "lam" in self.options:
            raise ValueError("give either a Laplacian weight (--lambda) or --tune-lambda, not both")

    @property
    def needs_base_mean(self) -> bool:
        return self.norm in ("center", "cl2n")


def episode_indices(sampler: Iterable) -> torch.Tensor:
    """Sample indices of every episode: (episodes, n_way * (k_shot + n_query)), support first.

    ``sampler`` must draw fixed N-way K-shot episodes (``sampler.fixed_shape``), e.g.
    ``EpisodeSampler(labels, n_way, k_shot, n_query, episodes, seed)`` or the inductive path's
    ``build_sampler``, which knows hierarchies and domains.
    """
    n_way, k_shot, n_query = fixed_shape(sampler)
    lists = [np.asarray(i, dtype=np.int64) for i in sampler]
    size = n_way * (k_shot + n_query)
    if not lists or any(len(i) != size for i in lists):
        raise ValueError(f"transductive evaluation needs fixed {n_way}-way {k_shot}-shot episodes with "
                         f"{n_query} queries per class ({size} samples each); the sampler gave "
                         f"{sorted({len(i) for i in lists})}")
    return torch.as_tensor(np.stack(lists))


def fixed_shape(sampler) -> Tuple[int, int, int]:
    """``(n_way, k_shot, n_query)`` of a sampler of fixed episodes; ValueError otherwise."""
    shape = getattr(sampler, "fixed_shape", None)
    if shape is None:
        raise ValueError("transductive evaluation draws fixed N-way K-shot episodes; the sampler's "
                         "episodes vary in shape (use episode_kind: fixed)")
    return tuple(int(v) for v in shape)


def method_tag(method: str, options: Mapping[str, object], norm: str, shift: bool) -> str:
    """Readable name of a setting, e.g. ``laplacian-kmeans[cl2n,shift,lam=0.7]``."""
    parts = [norm] if norm != "none" else []
    if shift:
        parts.append("shift")
    parts += [f"{k}={v}" for k, v in sorted(options.items())]
    return f"{method}[{','.join(parts)}]" if parts else method


def evaluate_transductive(features: torch.Tensor, labels: np.ndarray, method: str, sampler: Iterable, *,
                          options: Optional[Mapping[str, object]] = None, norm: str = "none",
                          shift: bool = False, base_mean: Optional[torch.Tensor] = None,
                          chunk: int = 200, split_name: str = "split", progress: bool = False,
                          index: Optional[torch.Tensor] = None) -> EvalResult:
    """Accuracy of ``method`` on the episodes ``sampler`` draws from ``labels``.

    Args:
        features: (N, D) features of every sample of the split (on the device to compute on).
        labels: (N,) class of every sample.
        method: a name registered in :data:`fewshot.transductive.METHODS`.
        sampler: fixed N-way K-shot episodes over ``labels`` (see :func:`episode_indices`).
        options: the method's keyword options (e.g. ``{"lam": 0.7}``).
        norm, shift, base_mean: feature preprocessing (see :func:`fewshot.transductive.preprocess`).
        chunk: episodes processed together.
        index: (episodes, n_way * (k_shot + n_query)) indices already drawn from ``sampler``.

    Returns:
        EvalResult with per-episode accuracies, ``method`` set to the setting's tag and
        ``seconds`` the inference time (sampling, gathering, preprocessing, method; the
        embedding of the split is not included).
    """
    n_way, k_shot, n_query = fixed_shape(sampler)
    options = dict(options or {})
    get_method(method)  # unknown names fail before any work
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 episode, got {chunk}")
    start = time.perf_counter()
    if index is None:
        index = episode_indices(sampler)
    index = index.to(features.device)
    n_support = n_way * k_shot
    ys = episode_labels(n_way, k_shot, features.device)
    yq = episode_labels(n_way, n_query, features.device)
    accs = []
    with torch.no_grad():
        for lo in tqdm(range(0, len(index), chunk), desc=f"{method} {n_way}w{k_shot}s",
                       disable=None if progress else True, leave=False):
            z = features[index[lo:lo + chunk]]  # (E, S + Q, D)
            zs, zq = preprocess(z[:, :n_support], z[:, n_support:], norm, shift, base_mean)
            probs = run_method(method, zs, ys.expand(len(z), -1), zq, n_way, **options)
            accs.append((probs.argmax(-1) == yq).float().mean(1).cpu())
    if features.device.type == "cuda":
        torch.cuda.synchronize(features.device)
    seconds = time.perf_counter() - start
    return EvalResult(split=split_name, n_way=n_way, k_shot=k_shot, n_query=n_query,
                      accuracies=torch.cat(accs).numpy().astype(np.float64), seconds=seconds,
                      method=method_tag(method, options, norm, shift))


def tune_lambda(features: torch.Tensor, labels: np.ndarray, method: str, sampler: Iterable,
                grid: Sequence[float] = LAMBDA_GRID, **kwargs) -> Tuple[float, Dict[float, float]]:
    """Pick the Laplacian weight with the best mean accuracy on (validation) episodes.

    Args:
        features, labels: the validation split's features and labels.
        method: a method with a Laplacian weight (``has_lambda``).
        sampler: the (validation) episodes, the same for every candidate.
        grid: candidate values (LaplacianShot's 0.1 ... 1.5 by default).
        **kwargs: the rest of :func:`evaluate_transductive`'s arguments (options without
            ``lam``, preprocessing).

    Returns:
        (best lambda, {lambda: mean accuracy}); ties go to the smaller lambda.
    """
    if not get_method(method).has_lambda:
        raise ValueError(f"method {method!r} has no Laplacian weight to tune; methods with one: "
                         "laplacian-kmeans, laplacian-kmodes, laplacianshot")
    options = dict(kwargs.pop("options", None) or {})
    options.pop("lam", None)
    if kwargs.get("index") is None:  # the same episodes for every candidate
        kwargs["index"] = episode_indices(sampler)
    scores: Dict[float, float] = {}
    for lam in grid:
        res = evaluate_transductive(features, labels, method, sampler, options={**options, "lam": lam}, **kwargs)
        scores[float(lam)] = res.mean
    best = max(scores, key=lambda k: (scores[k], -k))
    return best, scores


def evaluate_spec(spec: TransductiveSpec, features: torch.Tensor, labels: np.ndarray, sampler: Iterable, *,
                  base_mean: Optional[torch.Tensor] = None,
                  val: Optional[Tuple[torch.Tensor, np.ndarray]] = None, val_sampler: Optional[Iterable] = None,
                  split_name: str = "split", progress: bool = False) -> Tuple[EvalResult, Dict[str, object]]:
    """One shot setting of ``fewshot eval --transductive``: tune lambda on ``val`` if asked, then
    evaluate. Returns the result and extra fields for ``results.json``.

    Args:
        features, labels: the evaluated split's (N, D) features and (N,) labels.
        sampler: the test episodes (fixed N-way K-shot) over ``labels``.
        base_mean: (D,) base-class mean when ``spec.norm`` centres.
        val: (features, labels) of the validation split, needed with ``spec.tune_lambda``.
        val_sampler: the validation episodes over ``val``'s labels, needed with ``spec.tune_lambda``.
    """
    n_way, k_shot, _ = fixed_shape(sampler)
    setting = dict(norm=spec.norm, shift=spec.shift, base_mean=base_mean, chunk=spec.chunk)
    options = dict(spec.options)
    if get_method(spec.method).has_lambda and not spec.tune_lambda:
        options.setdefault("lam", get_method(spec.method).defaults["lam"])  # shown in the row's tag
    extra: Dict[str, object] = {}
    if spec.tune_lambda:
        if val is None or val_sampler is None:
            raise ValueError("tuning lambda needs the validation split's features and labels (val=...) "
                             "and its episodes (val_sampler=...)")
        options["lam"], scores = tune_lambda(val[0], val[1], spec.method, val_sampler, spec.lambda_grid,
                                             options=options, **setting)
        extra["lambda_scores"] = {str(lam): round(100 * acc, 3) for lam, acc in scores.items()}
        if progress:
            print(f"{spec.method} {n_way}-way {k_shot}-shot: lambda {options['lam']} chosen on the "
                  f"validation split (accuracy % per lambda: {extra['lambda_scores']})")
    res = evaluate_transductive(features, labels, spec.method, sampler, options=options,
                                split_name=split_name, progress=progress, **setting)
    extra.update({"transductive": spec.method, "options": options, "norm": spec.norm,
                  "shift": spec.shift})
    return res, extra

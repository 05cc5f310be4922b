"""Embed novel-class images with a trained run's backbone and plot them in 2-D."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from .embedding import project_2d
from .plots import plot_embedding


def plot_run_embedding(target: Union[str, Path], out: Union[str, Path], split: Optional[str] = None,
                       n_classes: int = 5, per_class: int = 30, episode: bool = False,
                       method: str = "pca", seed: int = 0, device: str = "cpu") -> Path:
    """Features of novel classes (the run's test split by default), projected to 2-D.

    Args:
        target: run folder or checkpoint.
        split: data split (default: the run's ``data.test_split``).
        n_classes: classes drawn at random (seeded) from the split.
        per_class: images per class (all when a class has fewer).
        episode: plot one ``n_classes``-way episode instead (the run's ``eval`` shots[0] and
            n_query; support points as stars).
        method: ``"pca"`` or ``"tsne"``.
    """
    from episodes import EpisodeSampler

    from ..data.registry import load_from_config
    from ..evaluation.evaluate import embed_split
    from ..evaluation.run_eval import load_learner, resolve_checkpoint

    ckpt, _ = resolve_checkpoint(Path(target))
    learner, cfg, norm = load_learner(ckpt, device)
    split = split or cfg.data.test_split
    data = load_from_config(cfg.data, split)
    if n_classes < 2 or n_classes > data.num_classes:
        raise ValueError(f"embedding plot: n_classes must be in 2..{data.num_classes} (classes of "
                         f"split {split!r}), got {n_classes}")
    rng = np.random.default_rng(seed)
    is_support = None
    if episode:
        k, q = cfg.eval.shots[0], cfg.eval.n_query
        sampler = EpisodeSampler(data.labels, n_way=n_classes, k_shot=k, n_query=q, n_episodes=1, seed=seed)
        index = np.asarray(next(iter(sampler)))
        labels = np.concatenate([np.repeat(np.arange(n_classes), k), np.repeat(np.arange(n_classes), q)])
        is_support = np.arange(len(index)) < n_classes * k
        classes = data.labels[index[: n_classes * k: k]]
        what = f"one {n_classes}-way {k}-shot episode ({q} queries per class)"
    else:
        classes = np.sort(rng.choice(data.num_classes, n_classes, replace=False))
        picks = [rng.permutation(np.flatnonzero(data.labels == c))[:per_class] for c in classes]
        index = np.concatenate(picks)
        labels = np.concatenate([np.full(len(p), i) for i, p in enumerate(picks)])
        what = f"{n_classes} classes x up to {per_class} images"
    with torch.no_grad():
        features = embed_split(learner, data.images[np.sort(index)], norm)
    order = np.argsort(np.argsort(index))  # embed_split read sorted indices (memmap friendly)
    points = project_2d(features[torch.as_tensor(order)].cpu().numpy(), method)
    names = [data.class_names[c] for c in classes]
    title = f"{'PCA' if method == 'pca' else 't-SNE'} of {cfg.data.name}/{split} features: {what}"
    return plot_embedding(points, labels, out, names, title, is_support)

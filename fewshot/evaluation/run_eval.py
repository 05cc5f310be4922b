"""Evaluate a trained run (or a checkpoint) and write the results into its run folder."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..atomic import atomic_write_text
from ..data.registry import default_test_split, load_from_config
from ..runs import ranks
from ..runs.checkpoint import learner_from_state, load_checkpoint, load_learner, resolve_checkpoint
from ..runs.episodes import build_sampler
from .evaluate import EvalResult, embed_split, evaluate
from .sharded import evaluate_sharded
from .transductive import TransductiveSpec, evaluate_spec

__all__ = ["evaluate_run", "load_learner", "merge_results", "resolve_checkpoint", "target_overrides",
           "write_episode_csv"]


def target_overrides(name: str, in_channels: int, root: Optional[str] = None,
                     options: Optional[Dict[str, Any]] = None, split: Optional[str] = None) -> Dict:
    """``data_overrides`` for :func:`evaluate_run` on another data set.

    Args:
        name: the target data set.
        in_channels: the checkpoint's ``in_channels``; set as ``channels`` unless given.
        root: the target's data folder (None: its loader's default).
        options: loader options (``data.options`` of the target).
        split: evaluation split (default: the data set's declared test split).

    Returns:
        Overrides for ``cfg.data``: name, root, options, test_split (image_size is kept, so
        the target is resized to the size the model was trained at).
    """
    opts = dict(options or {})
    opts.setdefault("channels", int(in_channels))
    return {"name": name, "root": None if root is None else str(Path(root).expanduser()),
            "options": opts, "test_split": split or default_test_split(name)}


def data_overrides_for(state: Dict[str, Any], name: Optional[str] = None, root: Optional[str] = None,
                       options: Optional[Dict[str, Any]] = None, split: Optional[str] = None) -> Dict[str, Any]:
    """What ``fewshot eval --data NAME --data-root DIR --data-option K=V`` changes in the run's
    data config (given its loaded checkpoint): another data set shaped for the model, or the
    run's own data set with another root or more loader options."""
    data = dict(state["config"].get("data", {}))
    if name and name != data.get("name"):
        return target_overrides(name, int(state["in_channels"]), root, options, split)
    overrides: Dict[str, Any] = {"options": {**data.get("options", {}), **(options or {})}}
    if root:
        overrides["root"] = root
    return overrides


def write_episode_csv(result: EvalResult, path: Path) -> None:
    """One row per episode: accuracy, and where recorded its ways, support and query sizes, domain."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = result.ways is not None and result.shots is not None and result.queries is not None
    if shape:
        starts = np.concatenate([[0], np.cumsum(result.ways)[:-1]]).astype(np.int64)
        support = np.add.reduceat(result.shots, starts) if len(starts) else starts
        query = np.add.reduceat(result.queries, starts) if len(starts) else starts
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["episode", "accuracy"] + (["ways", "support", "query", "domain"] if shape else []))
        for i, a in enumerate(result.accuracies):
            extra = [int(result.ways[i]), int(support[i]), int(query[i]),
                     "" if result.domains is None else int(result.domains[i])] if shape else []
            w.writerow([i, f"{a:.6f}"] + extra)


def merge_results(run_dir: Path, rows: List[Dict]) -> Path:
    """Add rows to ``results.json`` replacing rows with the same setting (model/split/way/shot/...)."""
    path = run_dir / "results.json"
    old = json.loads(path.read_text()) if path.is_file() else []
    key = ("model", "dataset", "split", "n_way", "k_shot", "n_query", "episodes", "method")
    new_keys = {tuple(r.get(k) for k in key) for r in rows}
    kept = [r for r in old if tuple(r.get(k) for k in key) not in new_keys]
    atomic_write_text(path, json.dumps(kept + rows, indent=2))
    return path


def evaluate_run(target: Path, split: Optional[str] = None, n_way: Optional[int] = None,
                 shots: Optional[Sequence[int]] = None, n_query: Optional[int] = None,
                 episodes: Optional[int] = None, seed: Optional[int] = None,
                 untrained: bool = False, feature_cache: Optional[bool] = None,
                 device: str = "cpu", progress: bool = True, data_overrides: Optional[Dict] = None,
                 transductive: Optional[TransductiveSpec] = None,
                 target_data: Optional[Dict[str, Any]] = None) -> List[EvalResult]:
    """Evaluate on every requested shot setting; results go to the run folder.

    Defaults come from the run's resolved config (``eval`` section, test split). With
    ``transductive``, the split is embedded once and episodes go through that method over the
    features (any learner: its ``embed`` gives the features).

    Args:
        data_overrides: fields of the run's data config to replace (e.g. from
            :func:`target_overrides`).
        target_data: ``{"name", "root", "options", "split"}`` of another data set (or the run's
            own with another root / options), shaped for the model (see :func:`data_overrides_for`).
    """
    device = ranks.resolve_device(device)
    ckpt, run_dir = resolve_checkpoint(target)
    state = load_checkpoint(ckpt, map_location=device)  # loaded once
    learner, cfg, norm = learner_from_state(state, ckpt, device, untrained=untrained)
    own_data = cfg.data  # the run's own data: base mean and validation come from it
    overrides = dict(data_overrides or {})
    if target_data:
        overrides.update(data_overrides_for(state, **target_data))
    data_cfg = dataclasses.replace(cfg.data, **overrides)
    split_name = split or data_cfg.test_split
    data = load_from_config(data_cfg, split_name)
    n_way = n_way or cfg.eval.n_way
    shots = list(shots or cfg.eval.shots)
    n_query = n_query or cfg.eval.n_query
    episodes = episodes or cfg.eval.episodes
    seed = cfg.eval.seed if seed is None else seed
    # The episode kind of eval (fixed: one evaluation per shot; variable / imbalanced: one in all)
    section = dataclasses.replace(cfg.eval, n_way=n_way, n_query=n_query)
    if data_cfg.name != own_data.name and section.hierarchy and section.hierarchy not in data.meta:
        # cross-domain target without the run's super-categories (e.g. glyphs' alphabets)
        print(f"note: {data.name} has no {section.hierarchy!r}: its episodes ignore eval.hierarchy")
        section = dataclasses.replace(section, hierarchy="", p_ignore_hierarchy=0.0)
    if section.episode_kind != "fixed":
        if transductive is not None:
            raise ValueError(f"transductive evaluation draws fixed N-way K-shot episodes but the run's "
                             f"eval.episode_kind is {section.episode_kind!r}")
        shots = [0]  # each episode draws its own shots
    if feature_cache is None:
        feature_cache = cfg.eval.feature_cache and learner.uses_features
    if transductive is not None:
        feature_cache = True  # transductive methods work on features, whatever the learner
    features = embed_split(learner, data.images, norm, progress=progress) if feature_cache else None
    base_mean = val = val_split = None
    if transductive is not None and transductive.needs_base_mean:
        # base-class mean feature for centring: the mean embedding of the run's own training split
        # (also when evaluating on another data set: the base classes are those the model saw)
        base_mean = embed_split(learner, load_from_config(own_data, own_data.train_split).images,
                                norm, progress=progress).mean(0)
    if transductive is not None and transductive.tune_lambda:  # lambda chosen on the run's validation split
        val_split = load_from_config(own_data, own_data.val_split)
        val = (embed_split(learner, val_split.images, norm, progress=progress), val_split.labels)
    model = "untrained" if untrained else ckpt.stem
    results, rows = [], []
    for k in shots:
        extra: Dict = {}
        if transductive is None:
            sampler = build_sampler(section, data, episodes, seed, k_shot=k or None, advance_epoch=False,
                                    prefix="eval")
            # under torchrun the episodes are shared out over the ranks and gathered
            res = evaluate_sharded(evaluate, learner, data, norm, sampler, feature_cache=feature_cache,
                                   features=features, progress=progress and ranks.is_main(), chunk=cfg.eval.chunk)
        else:  # the inductive path's episodes; validation episodes drawn the same way
            sampler = build_sampler(section, data, episodes, seed, k_shot=k, advance_epoch=False, prefix="eval")
            val_sampler = None if val_split is None else build_sampler(
                section, val_split, transductive.val_episodes, seed, k_shot=k, advance_epoch=False, prefix="eval")
            res, extra = evaluate_spec(transductive, features, data.labels, sampler, base_mean=base_mean,
                                       val=val, val_sampler=val_sampler,
                                       split_name=getattr(data, "name", split_name), progress=progress)
        results.append(res)
        shape = f"{n_way}w{k}s" if section.episode_kind == "fixed" else section.episode_kind
        tag = f"{data_cfg.name}-{split_name}_{shape}_{model}".replace("/", "-")
        if transductive is not None:
            tag += "_" + "".join(c if c.isalnum() or c in "-=." else "_" for c in res.method.rstrip("]"))
        if ranks.is_main():
            write_episode_csv(res, run_dir / "eval" / f"{tag}.csv")
        rows.append({"model": model, "dataset": data_cfg.name, "learner": cfg.model.learner,
                     "backbone": cfg.model.backbone, "checkpoint": str(ckpt), **res.summary(),
                     "split": split_name, **extra})
    if ranks.is_main():
        merge_results(run_dir, rows)
    return results

"""Evaluate a trained run (or a checkpoint) and write the results into its run folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..config import config_from_dict
from ..data.registry import load_from_config
from ..engine.build import build_learner
from ..engine.checkpoint import CheckpointError, load_checkpoint
from ..engine.inputs import Normalizer
from .evaluate import EvalResult, embed_split, evaluate


def resolve_checkpoint(target: Path) -> Tuple[Path, Path]:
    """A run folder or a checkpoint file -> (checkpoint path, run folder)."""
    target = Path(target)
    if target.is_dir():
        for name in ("best.pt", "last.pt"):
            if (target / "checkpoints" / name).is_file():
                return target / "checkpoints" / name, target
        raise CheckpointError(f"run folder {str(target)!r} has no checkpoints/best.pt or "
                              "checkpoints/last.pt; was training started there?")
    if target.is_file():
        run_dir = target.parent.parent if target.parent.name == "checkpoints" else target.parent
        return target, run_dir
    raise CheckpointError(f"{str(target)!r} is neither a run folder nor a checkpoint file")


def load_learner(ckpt_path: Path, device: str = "cpu", untrained: bool = False):
    """Rebuild the learner a checkpoint describes. Returns (learner, config, normalizer)."""
    state = load_checkpoint(ckpt_path, map_location=device)
    cfg = config_from_dict(state["config"])
    if untrained:  # same architecture, fresh weights drawn with the run's seed
        torch.manual_seed(cfg.train.seed)
    learner = build_learner(cfg, state["in_channels"]).to(device)
    if not untrained:
        try:
            learner.load_state_dict(state["model"])
        except RuntimeError as err:
            raise CheckpointError(
                f"{str(ckpt_path)!r} holds weights for learner {state.get('learner')!r} with backbone "
                f"{state.get('backbone')!r}, which do not fit the model built from its config: "
                f"{str(err).splitlines()[0]}") from None
    norm = Normalizer(state["norm"]["mean"], state["norm"]["std"], device)
    return learner, cfg, norm


def write_episode_csv(result: EvalResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["episode", "accuracy"])
        for i, a in enumerate(result.accuracies):
            w.writerow([i, f"{a:.6f}"])


def merge_results(run_dir: Path, rows: List[Dict]) -> Path:
    """Add rows to ``results.json`` replacing rows with the same setting (model/split/way/shot/...)."""
    path = run_dir / "results.json"
    old = json.loads(path.read_text()) if path.is_file() else []
    key = ("model", "dataset", "split", "n_way", "k_shot", "n_query", "episodes", "method")
    new_keys = {tuple(r.get(k) for k in key) for r in rows}
    kept = [r for r in old if tuple(r.get(k) for k in key) not in new_keys]
    path.write_text(json.dumps(kept + rows, indent=2))
    return path


def evaluate_run(target: Path, split: Optional[str] = None, n_way: Optional[int] = None,
                 shots: Optional[Sequence[int]] = None, n_query: Optional[int] = None,
                 episodes: Optional[int] = None, seed: Optional[int] = None,
                 untrained: bool = False, feature_cache: Optional[bool] = None,
                 device: str = "cpu", progress: bool = True, data_overrides: Optional[Dict] = None
                 ) -> List[EvalResult]:
    """Evaluate on every requested shot setting; results go to the run folder.

    Defaults come from the run's resolved config (``eval`` section, test split).
    """
    ckpt, run_dir = resolve_checkpoint(target)
    learner, cfg, norm = load_learner(ckpt, device, untrained=untrained)
    for k, v in (data_overrides or {}).items():
        setattr(cfg.data, k, v)
    split_name = split or cfg.data.test_split
    data = load_from_config(cfg.data, split_name)
    n_way = n_way or cfg.eval.n_way
    shots = list(shots or cfg.eval.shots)
    n_query = n_query or cfg.eval.n_query
    episodes = episodes or cfg.eval.episodes
    seed = cfg.eval.seed if seed is None else seed
    if feature_cache is None:
        feature_cache = cfg.eval.feature_cache and learner.uses_features
    features = embed_split(learner, data.images, norm, progress=progress) if feature_cache else None
    model = "untrained" if untrained else ckpt.stem
    results, rows = [], []
    for k in shots:
        res = evaluate(learner, data, norm, n_way=n_way, k_shot=k, n_query=n_query,
                       episodes=episodes, seed=seed, feature_cache=feature_cache,
                       features=features, progress=progress)
        results.append(res)
        tag = f"{cfg.data.name}-{split_name}_{n_way}w{k}s_{model}".replace("/", "-")
        write_episode_csv(res, run_dir / "eval" / f"{tag}.csv")
        rows.append({"model": model, "dataset": cfg.data.name, "learner": cfg.model.learner,
                     "backbone": cfg.model.backbone, "checkpoint": str(ckpt), **res.summary(),
                     "split": split_name})
    merge_results(run_dir, rows)
    return results

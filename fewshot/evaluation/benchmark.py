"""Evaluate trained runs over a grid of data sets x ways x shots; write Markdown and CSV tables.

Each run is loaded once; each target data set is loaded once per run, shaped for the model
(its ``image_size`` and ``in_channels``), embedded once when the learner allows it, and then
evaluated for every (way, shot) with the same seeded episodes for every run, so rows compare.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from episodes import EpisodeSampler

from ..atomic import atomic_write_text
from ..data.features import load_features
from ..data.paths import resolve_data_dir
from ..data.registry import DATASETS, accepts, default_test_split, load_split
from ..learners import create_learner
from ..runs.checkpoint import load_learner, resolve_checkpoint
from ..runs.inputs import Normalizer
from ..runs.lock import run_lock
from ..runs.ranks import resolve_device
from .evaluate import embed_split, evaluate
from .run_eval import episode_csv_name, merge_results, writable_results_dir, write_episode_csv

COLUMNS = ["run", "model", "learner", "backbone", "trained_on", "label", "dataset", "split", "n_way",
           "k_shot", "n_query", "episodes", "accuracy", "ci95", "seconds"]


@dataclass
class Target:
    """One evaluated data set. ``name="own"`` means each run's own data set and test split."""

    name: str
    split: Optional[str] = None
    root: Optional[str] = None
    options: Dict[str, Any] = field(default_factory=dict)
    label: Optional[str] = None  # table label (default ``name/split``)


def _quiet(name: str, progress: bool) -> Dict[str, Any]:
    """``progress=False`` for loaders that take it (the cache's progress bar), else nothing."""
    return {} if progress or name not in DATASETS or not accepts(name, "progress") else {"progress": False}


def _load_target(t: Target, cfg, in_channels: int, progress: bool):
    """(split data, table label, setting): the setting holds what defines the data of a row
    (real data set name, absolute root, loader options, split, image size)."""
    if t.name == "own":
        name, split, root = cfg.data.name, t.split or cfg.data.test_split, cfg.data.root
        options = {**cfg.data.options, **t.options}
    else:
        name, split, root = t.name, t.split or default_test_split(t.name), t.root
        options = {"channels": in_channels, **t.options}
    data = load_split(name, split, root=root, image_size=cfg.data.image_size, seed=cfg.data.seed,
                      **{**_quiet(name, progress), **options})
    setting = {"dataset": name, "data_root": str(resolve_data_dir(root)), "split": split,
               "data_options": {k: v for k, v in sorted(options.items()) if k not in ("progress", "workers")},
               "image_size": cfg.data.image_size}
    return data, t.label or f"{name}/{split}", setting


def evaluate_grid(runs: Sequence[Path], targets: Sequence[Target], ways: Sequence[int],
                  shots: Sequence[int], n_query: int = 15, episodes: int = 600, seed: int = 1234,
                  untrained: bool = False, device: str = "cpu", progress: bool = False,
                  record: bool = True) -> List[Dict[str, Any]]:
    """One row per (run, model, target, way, shot); see :data:`COLUMNS`.

    Args:
        runs: run folders, checkpoint files, or ``.npz`` feature files (evaluated with the
            nearest-centroid rule; ``targets`` do not apply to them).
        targets: data sets to evaluate on.
        ways, shots: the grid; a way larger than a data set's class count is skipped.
        untrained: also evaluate each architecture with fresh weights (the floor).
        record: also merge the rows into each run's ``results.json``.
    """
    device = resolve_device(device)
    rows: List[Dict[str, Any]] = []
    for run in runs:
        if Path(run).suffix == ".npz":  # precomputed features: the file is its own data set
            rows.extend(feature_rows(Path(run), ways, shots, n_query, episodes, seed, progress))
            continue
        ckpt, run_dir = resolve_checkpoint(Path(run))
        ckpt, run_dir = ckpt.resolve(), run_dir.resolve()
        if record:
            writable_results_dir(run_dir, None, fix="make it writable, or evaluate it with `fewshot eval "
                                 "RUN --out DIR`")  # before any work: a read-only run is refused at once
        run_rows: List[Dict[str, Any]] = []
        episode_results = []
        for fresh in ([False, True] if untrained else [False]):
            learner, cfg, norm = load_learner(ckpt, device, untrained=fresh)
            in_channels = int(norm.mean.numel())
            for t in targets:
                data, label, setting = _load_target(t, cfg, in_channels, progress)
                use_features = learner.uses_features and cfg.eval.feature_cache
                feats = embed_split(learner, data.images, norm, progress=progress) if use_features else None
                for n_way in ways:
                    if n_way > data.num_classes:
                        continue
                    for k in shots:
                        sampler = EpisodeSampler(data.labels, n_way=n_way, k_shot=k, n_query=n_query,
                                                 n_episodes=episodes, seed=seed)
                        res = evaluate(learner, data, norm, sampler, feature_cache=use_features,
                                       features=feats, progress=progress)
                        s = res.summary()
                        model = "untrained" if fresh else ckpt.stem
                        row = {
                            "source": "benchmark", "run": run_dir.name, "model": model, "checkpoint": str(ckpt),
                            "learner": cfg.model.learner, "backbone": cfg.model.backbone,
                            "trained_on": cfg.data.name, **setting, "label": label,
                            "n_way": n_way, "k_shot": k, "n_query": n_query, "episodes": episodes,
                            "seed": seed, "seeds": None, "episode_keys": None, "method": "inductive",
                            "method_options": None, "accuracy": s["accuracy"], "ci95": s["ci95"],
                            "seconds": round(res.seconds, 2)}
                        if record:
                            tag = f"{label}_{n_way}w{k}s_{model}_seed{seed}_benchmark".replace("/", "-")
                            row["episodes_csv"] = episode_csv_name(tag, row)
                            episode_results.append((res, run_dir / row["episodes_csv"]))
                        run_rows.append(row)
        if record and run_rows:
            with run_lock(run_dir, "fewshot benchmark"):  # one writer: not beside a training or an eval
                for res, path in episode_results:
                    write_episode_csv(res, path)
                merge_results(run_dir, run_rows)
        rows.extend(run_rows)
    return rows


def feature_rows(path: Path, ways: Sequence[int], shots: Sequence[int], n_query: int, episodes: int,
                 seed: int, progress: bool = False) -> List[Dict[str, Any]]:
    """Nearest-centroid (ProtoNet's rule, squared Euclidean) episodes over a features file."""
    data = load_features(path)
    learner = create_learner("protonet", torch.nn.Identity(), distance="sqeuclidean", learn_scale=False)
    feats, norm = torch.from_numpy(data.features), Normalizer([0.0], [1.0])
    rows = []
    for n_way in ways:
        if n_way > data.num_classes:
            continue
        for k in shots:
            sampler = EpisodeSampler(data.labels, n_way=n_way, k_shot=k, n_query=n_query, n_episodes=episodes,
                                     seed=seed)
            res = evaluate(learner, data, norm, sampler, feature_cache=True, features=feats, progress=progress)
            rows.append({"run": path.name, "model": "features", "learner": "nearest-centroid",
                         "backbone": "-", "trained_on": "-", "dataset": data.name, "split": data.name,
                         "n_way": n_way, "k_shot": k, "n_query": n_query, "episodes": episodes,
                         "accuracy": round(100 * res.mean, 3), "ci95": round(100 * res.ci95, 3),
                         "seconds": round(res.seconds, 2)})
    return rows


def write_csv(rows: List[Dict[str, Any]], path: Path) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def markdown_table(rows: List[Dict[str, Any]]) -> str:
    """Rows = (run, model, data set), columns = each ``N-way K-shot``, cells ``acc ± ci95``."""
    settings = sorted({(r["n_way"], r["k_shot"]) for r in rows})
    heads = [f"{w}-way {k}-shot" for w, k in settings]
    vary = len({r["episodes"] for r in rows}) > 1  # then each row says how many episodes
    keys: List[tuple] = []
    cells: Dict[tuple, Dict[tuple, str]] = {}
    for r in rows:
        key = (r["run"], r["learner"], r["model"], r["trained_on"], r.get("label") or r["dataset"]) + \
            ((str(r["episodes"]),) if vary else ())
        if key not in cells:
            keys.append(key)
            cells[key] = {}
        cells[key][(r["n_way"], r["k_shot"])] = f"{r['accuracy']:.2f} ± {r['ci95']:.2f}"
    lines = ["| run | learner | model | trained on | evaluated on | " + ("episodes | " if vary else "") +
             " | ".join(heads) + " |", "|" + " --- |" * (5 + vary + len(heads))]
    for key in keys:
        lines.append("| " + " | ".join(key) + " | " +
                     " | ".join(cells[key].get(s, "n/a") for s in settings) + " |")
    return "\n".join(lines) + "\n"


def write_tables(rows: List[Dict[str, Any]], out_dir: Path, command: str = "") -> Dict[str, Path]:
    """``table.csv`` (one row per result) and ``table.md`` (the wide table, with the command)."""
    out_dir = Path(out_dir)
    csv_path = write_csv(rows, out_dir / "table.csv")
    episodes = sorted({r["episodes"] for r in rows})
    queries = sorted({r["n_query"] for r in rows})
    note = (f"Accuracy (%) ± 95% confidence interval over {', '.join(map(str, episodes))} episodes, "
            f"{', '.join(map(str, queries))} queries per class.\n")
    md = (f"Command: `{command}`\n\n" if command else "") + note + "\n" + markdown_table(rows)
    md_path = out_dir / "table.md"
    atomic_write_text(md_path, md)
    return {"csv": csv_path, "md": md_path}

"""Evaluate a trained run (or a checkpoint) and write the results into its run folder."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..atomic import atomic_write_text, check_writable
from ..config import EPISODE_KEYS
from ..data.paths import resolve_data_dir
from ..data.registry import default_test_split, load_from_config
from ..runs import ranks
from ..runs.checkpoint import CheckpointError, learner_from_state, load_checkpoint, load_learner, resolve_checkpoint
from ..runs.episodes import build_sampler
from .evaluate import EvalResult, embed_split, evaluate
from .sharded import evaluate_sharded
from .transductive import TransductiveSpec, evaluate_spec

__all__ = ["SETTING_KEYS", "check_eval_settings", "evaluate_run", "load_learner", "merge_results", "read_results",
           "resolve_checkpoint", "seed_summary", "setting_key", "target_overrides", "write_episode_csv"]


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
    return {"name": name, "root": _absolute(root),
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
        overrides["root"] = _absolute(root)
    return overrides


#: What defines an evaluation: two rows of ``results.json`` with the same values here are the
#: same evaluation (the newer replaces the older); rows differing in any of them are both kept.
SETTING_KEYS = ("source", "model", "checkpoint", "learner", "backbone", "dataset", "data_root", "data_options",
                "image_size", "split", "n_way", "k_shot", "n_query", "episodes", "episode_keys", "seed",
                "seeds", "method", "method_options")
#: Loader options that change how data is loaded, not which data (left out of a row's setting).
_LOADING_OPTIONS = ("progress", "workers")


def setting_key(row: Dict[str, Any]) -> str:
    """The identity of an evaluation row: its :data:`SETTING_KEYS` values as canonical JSON."""
    return json.dumps({k: row.get(k) for k in SETTING_KEYS}, sort_keys=True, default=str)


def _digest(row: Dict[str, Any]) -> str:
    return hashlib.sha1(setting_key(row).encode()).hexdigest()[:10]


def read_results(path: Path) -> List[Dict[str, Any]]:
    """The rows of a ``results.json`` ([] when there is none); a file that is not a JSON list of
    rows is a ValueError naming it (it is never replaced: its rows may be the only copy)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{str(path)!r} is not valid JSON ({err}); fewshot will not overwrite it. Repair "
                         "it or move it aside, then evaluate again (or give --out DIR)") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{str(path)!r} is not a list of result rows; fewshot will not overwrite it. Repair "
                         "it or move it aside, then evaluate again (or give --out DIR)")
    return rows


def merge_results(run_dir: Path, rows: List[Dict]) -> Path:
    """Add rows to ``results.json`` (written atomically); an older row with the same setting
    (:func:`setting_key`) is replaced, every other row is kept."""
    path = Path(run_dir) / "results.json"
    old = read_results(path)
    new_keys = {setting_key(r) for r in rows}
    kept = [r for r in old if setting_key(r) not in new_keys]
    atomic_write_text(path, json.dumps(kept + rows, indent=2))
    return path


def write_episode_csv(result: EvalResult, path: Path) -> None:
    """One row per episode: accuracy, and where recorded its ways, support and query sizes, domain
    (written atomically)."""
    shape = result.ways is not None and result.shots is not None and result.queries is not None
    if shape:
        starts = np.concatenate([[0], np.cumsum(result.ways)[:-1]]).astype(np.int64)
        support = np.add.reduceat(result.shots, starts) if len(starts) else starts
        query = np.add.reduceat(result.queries, starts) if len(starts) else starts
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["episode", "accuracy"] + (["ways", "support", "query", "domain"] if shape else []))
    for i, a in enumerate(result.accuracies):
        extra = [int(result.ways[i]), int(support[i]), int(query[i]),
                 "" if result.domains is None else int(result.domains[i])] if shape else []
        w.writerow([i, f"{a:.6f}"] + extra)
    atomic_write_text(path, buf.getvalue())


def episode_csv_name(tag: str, row: Dict[str, Any]) -> str:
    """``eval/<tag>_<digest>.csv``: the digest of the row's setting keeps distinct evaluations
    (another seed, data root, ...) in distinct files."""
    tag = "".join(c if c.isalnum() or c in "-=._" else "_" for c in tag)[:120]
    return f"eval/{tag}_{_digest(row)}.csv"


def check_eval_settings(n_way: int, shots: Sequence[int], n_query: int, episodes: int,
                        seeds: Sequence[int] = ()) -> None:
    """Refuse evaluation settings that would give a meaningless row (a 1-way task is always
    right) with the flag to change."""
    for flag, value, low in (("--n-way", n_way, 2), ("--n-query", n_query, 1), ("--episodes", episodes, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{flag} must be an integer >= {low}, got {value!r}"
                             + (" (a 1-way task has nothing to classify)" if flag == "--n-way" else ""))
    if not shots or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in shots):
        raise ValueError(f"--shots must be integers >= 1, got {list(shots)!r}")
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ValueError(f"--seed / --seeds must be integers >= 0, got {list(seeds)!r}")
    if len(set(seeds)) != len(list(seeds)):
        raise ValueError(f"--seeds lists a seed twice: {list(seeds)!r}")


def seed_summary(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per setting evaluated with several seeds: the mean accuracy over the seeds, the
    spread across seeds (``seed_std``, sample standard deviation, in points) beside every seed's
    own accuracy and 95% CI (``accuracy_per_seed``, ``ci95_per_seed``); ``ci95`` is the mean
    per-seed CI."""
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(setting_key({**r, "seed": None}), []).append(r)
    out = []
    for group in groups.values():
        if len(group) < 2:
            continue
        acc = np.array([r["accuracy"] for r in group], dtype=np.float64)
        cis = [r["ci95"] for r in group]
        out.append({**{k: v for k, v in group[0].items() if k not in ("episodes_csv", "ms_per_episode")},
                    "seed": None, "seeds": [r["seed"] for r in group], "accuracy": round(float(acc.mean()), 3),
                    "ci95": round(float(np.mean(cis)), 3), "seed_std": round(float(acc.std(ddof=1)), 3),
                    "accuracy_per_seed": [r["accuracy"] for r in group], "ci95_per_seed": cis})
    return out


def check_weights_finite(learner, ckpt: Path) -> None:
    """A checkpoint whose weights hold NaN or infinity cannot give a meaningful evaluation."""
    for name, p in [*learner.named_parameters(), *learner.named_buffers()]:  # BatchNorm statistics too
        if p.is_floating_point() and not bool(torch.isfinite(p).all()):
            raise CheckpointError(f"checkpoint {str(ckpt)!r} holds NaN or infinite weights ({name!r}); its "
                                  "evaluation would be chance. Evaluate another checkpoint (best.pt, an "
                                  "episode-*.pt) or retrain with a lower train.lr")


def writable_results_dir(run_dir: Path, out_dir: Optional[Path], fix: Optional[str] = None) -> Path:
    """Where results go: ``out_dir`` if given, else the run folder; checked before any work
    (``fix``: what to tell the user instead of ``--out DIR``)."""
    folder = Path(out_dir) if out_dir is not None else Path(run_dir)
    try:
        return check_writable(folder)
    except OSError as err:
        where = (f"the run folder {str(run_dir)!r}" if out_dir is None else f"--out {str(out_dir)!r}")
        fix = fix or ("give --out DIR to write results.json and eval/ elsewhere" if out_dir is None
                      else "choose a folder you can write to")
        raise ValueError(f"cannot write results into {where}: {err.strerror or err} ({err.filename}); "
                         f"{fix}") from None


def _absolute(root: Optional[str]) -> Optional[str]:
    return None if root is None else str(Path(root).expanduser().resolve())


def evaluate_run(target: Path, split: Optional[str] = None, n_way: Optional[int] = None,
                 shots: Optional[Sequence[int]] = None, n_query: Optional[int] = None,
                 episodes: Optional[int] = None, seed: Optional[int] = None,
                 untrained: bool = False, feature_cache: Optional[bool] = None,
                 device: str = "cpu", progress: bool = True, data_overrides: Optional[Dict] = None,
                 transductive: Optional[TransductiveSpec] = None,
                 target_data: Optional[Dict[str, Any]] = None, seeds: Optional[Sequence[int]] = None,
                 out_dir: Optional[Path] = None, drop_small_classes: Optional[bool] = None) -> List[EvalResult]:
    """Evaluate on every requested shot setting; results go to the run folder (or ``out_dir``).

    Defaults come from the run's resolved config (``eval`` section, test split); a value given is
    used as given (0 is refused, never replaced by the default). With ``transductive``, the split
    is embedded once and episodes go through that method over the features (any learner: its
    ``embed`` gives the features). Every row of ``results.json`` records what defines it
    (:data:`SETTING_KEYS`); rows of other settings are kept.

    Args:
        data_overrides: fields of the run's data config to replace (e.g. from
            :func:`target_overrides`).
        target_data: ``{"name", "root", "options", "split"}`` of another data set (or the run's
            own with another root / options), shaped for the model (see :func:`data_overrides_for`).
        seeds: evaluate with each of these seeds (instead of ``seed``); with two or more, a row
            per setting gives the mean over seeds and their spread (:func:`seed_summary`).
        out_dir: write ``results.json`` and ``eval/`` here instead of the run folder (e.g. a
            read-only run folder).
        drop_small_classes: leave out (with a warning) the classes too small for the episodes
            (default: the run's ``eval.drop_small_classes``); recorded in each row's episode keys.

    Returns:
        One result per (shot setting, seed), each with its ``seed``.
    """
    device = ranks.resolve_device(device)
    ckpt, run_dir = resolve_checkpoint(target)
    ckpt, run_dir = ckpt.resolve(), run_dir.resolve()
    results_dir = writable_results_dir(run_dir, out_dir) if ranks.is_main() else Path(out_dir or run_dir)
    state = load_checkpoint(ckpt, map_location=device)  # loaded once
    learner, cfg, norm = learner_from_state(state, ckpt, device, untrained=untrained)
    if not untrained:
        check_weights_finite(learner, ckpt)
    own_data = cfg.data  # the run's own data: base mean and validation come from it
    overrides = dict(data_overrides or {})
    if target_data:
        overrides.update(data_overrides_for(state, **target_data))
    data_cfg = dataclasses.replace(cfg.data, **overrides)
    split_name = split or data_cfg.test_split
    n_way = cfg.eval.n_way if n_way is None else n_way
    shots = list(cfg.eval.shots if shots is None else shots)
    n_query = cfg.eval.n_query if n_query is None else n_query
    episodes = cfg.eval.episodes if episodes is None else episodes
    seeds = list(seeds) if seeds else [cfg.eval.seed if seed is None else seed]
    check_eval_settings(n_way, shots, n_query, episodes, seeds)
    data = load_from_config(data_cfg, split_name)
    # The episode kind of eval (fixed: one evaluation per shot; variable / imbalanced: one in all)
    section = dataclasses.replace(cfg.eval, n_way=n_way, n_query=n_query)
    if drop_small_classes is not None:
        section = dataclasses.replace(section, drop_small_classes=bool(drop_small_classes))
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
    setting = {"source": "eval", "model": model, "checkpoint": str(ckpt), "learner": cfg.model.learner,
               "backbone": cfg.model.backbone, "dataset": data_cfg.name,
               "data_root": str(resolve_data_dir(data_cfg.root)),
               "data_options": {k: v for k, v in sorted(data_cfg.options.items()) if k not in _LOADING_OPTIONS},
               "image_size": data_cfg.image_size,
               "episode_keys": {k: getattr(section, k) for k in EPISODE_KEYS},
               "method_options": None if transductive is None else _method_options(transductive), "seeds": None}
    results, rows = [], []
    for k in shots:
        for s in seeds:
            extra: Dict = {}
            if transductive is None:
                sampler = build_sampler(section, data, episodes, s, k_shot=k or None, advance_epoch=False,
                                        prefix="eval")
                # under torchrun the episodes are shared out over the ranks and gathered
                res = evaluate_sharded(evaluate, learner, data, norm, sampler, feature_cache=feature_cache,
                                       features=features, progress=progress and ranks.is_main(),
                                       chunk=cfg.eval.chunk)
            else:  # the inductive path's episodes; validation episodes drawn the same way
                sampler = build_sampler(section, data, episodes, s, k_shot=k, advance_epoch=False, prefix="eval")
                val_sampler = None if val_split is None else build_sampler(
                    section, val_split, transductive.val_episodes, s, k_shot=k, advance_epoch=False,
                    prefix="eval")
                res, extra = evaluate_spec(transductive, features, data.labels, sampler, base_mean=base_mean,
                                           val=val, val_sampler=val_sampler,
                                           split_name=getattr(data, "name", split_name), progress=progress)
            res.seed = s
            results.append(res)
            row = {**setting, **res.summary(), "split": split_name, "seed": s, **extra}
            shape = f"{n_way}w{k}s" if section.episode_kind == "fixed" else section.episode_kind
            tag = f"{data_cfg.name}-{split_name}_{shape}_{model}_seed{s}".replace("/", "-")
            if transductive is not None:
                tag += "_" + res.method.rstrip("]")
            row["episodes_csv"] = episode_csv_name(tag, row)
            if ranks.is_main():
                write_episode_csv(res, results_dir / row["episodes_csv"])
            rows.append(row)
    if ranks.is_main():
        merge_results(results_dir, rows + seed_summary(rows))
    return results


def _method_options(spec: TransductiveSpec) -> Dict[str, Any]:
    """What defines a transductive evaluation besides the method's name (``chunk`` does not)."""
    out: Dict[str, Any] = {"options": dict(sorted(spec.options.items())), "norm": spec.norm, "shift": spec.shift}
    if spec.tune_lambda:
        out.update(tune_lambda=True, lambda_grid=list(spec.lambda_grid), val_episodes=spec.val_episodes)
    return out

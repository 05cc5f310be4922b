"""What the ``scripts/compare_*.py`` studies share: train a (config, overrides, seed) once, test it
under named settings, pair methods seed by seed, and judge whether validation had flattened.

A run lives in its own folder; ``train.json`` there records a finished training and every test
result goes to ``tests/<key>.json`` beside it, so an interrupted study continues where it stopped
and a new study reuses the runs (and tests) an earlier one finished. Results hold the per-episode
accuracies, so two methods tested with the same seed on the same split are compared episode by
episode (same test episodes for every method).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: A validation curve counts as still rising when the best accuracy of its last third beats the
#: best before it by more than this fraction of the validations' mean 95% half-width.
RISING_FRACTION = 0.5


def write_json(path: Path, data: Any) -> None:
    from fewshot.atomic import atomic_write_text

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(path), json.dumps(data))


def digest(settings: Dict[str, Any]) -> str:
    """A short name for a settings dict (key order does not matter)."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def study_settings(args: Any, leave_out: Sequence[str] = ("jobs", "out")) -> Dict[str, Any]:
    """A study's parsed arguments that decide its numbers: all but ``leave_out`` (how many run at
    once, where they are written)."""
    return {k: v for k, v in vars(args).items() if k not in leave_out}


def write_summary(folder: Path, stem: str, settings: Dict[str, Any], text: str, records: Any,
                  curves: Optional[Dict[str, Dict[str, Sequence]]] = None,
                  xlabel: str = "training episode") -> Path:
    """Write a study's summary, ``<stem>.md`` (``text``) and ``<stem>.json`` (``{"settings",
    "records"}``), each atomically, and return the ``.md`` path. With ``curves`` (panel -> method
    -> the seeds' validation curves, as ``train.json`` records them) the validation curves are
    drawn to ``<stem>_curves.png`` too (``fewshot.reporting.plots.plot_validation_curves``) and the
    summary names that file.

    ``settings`` are the study's arguments that decide its numbers. A summary already there from
    other settings (or of a layout that does not record them) is kept: this one then goes to
    ``<stem>_<digest of settings>.*``, so one study never replaces another that differs."""
    from fewshot.atomic import atomic_write_text

    settings = json.loads(json.dumps(settings, default=str))
    folder = Path(folder)
    name = stem
    old = folder / f"{stem}.json"
    if old.is_file() or (folder / f"{stem}.md").is_file():
        try:
            same = json.loads(old.read_text()).get("settings") == settings
        except (OSError, ValueError, AttributeError):  # absent, torn, or an earlier layout (a list)
            same = False
        if not same:
            name = f"{stem}_{digest(settings)}"
    text = text if text.endswith("\n") else text + "\n"
    if curves:
        from fewshot.reporting.plots import plot_validation_curves

        plot_validation_curves(curves, folder / f"{name}_curves.png",
                               "validation accuracy: each seed thin, the mean over seeds thick; shaded: "
                               "the last third, which 'still rising' compares with the best before it", xlabel)
        text += (f"\nValidation curves: `{name}_curves.png` (each seed thin, the mean thick; the shaded "
                 "last third is what 'still rising' compares with the best before it).\n")
    write_json(folder / f"{name}.json", {"settings": settings, "records": records})
    atomic_write_text(folder / f"{name}.md", text)
    return folder / f"{name}.md"


def run_name(config: str, overrides: Sequence[str], seed: int) -> str:
    """A readable, unique folder name for (config, overrides, seed)."""
    tag = hashlib.sha1(json.dumps([config, list(overrides)]).encode()).hexdigest()[:6] if overrides else "plain"
    return f"{Path(config).stem}_{tag}_seed{seed}"


def train_once(job: Dict[str, Any]) -> Dict[str, Any]:
    """Train ``job['config']`` with ``job['overrides']`` and seed ``job['seed']`` into ``job['run_dir']``,
    unless ``train.json`` there says it already did. Returns that record (seconds, best validation,
    the validation curve, the commit). Holds the run folder's writer lock (as ``fewshot train``
    does): a second study started on the same folders is refused instead of training the same
    run twice at once."""
    from fewshot.runs.lock import run_lock

    run_dir = Path(job["run_dir"])
    record = run_dir / "train.json"
    if record.is_file():
        return json.loads(record.read_text())
    with run_lock(run_dir, f"a comparison study (pid {os.getpid()})"):
        return _train_locked(job, run_dir, record)


def _train_locked(job: Dict[str, Any], run_dir: Path, record: Path) -> Dict[str, Any]:
    if record.is_file():  # finished while this process waited to start
        return json.loads(record.read_text())
    import torch

    from fewshot.config import load_config
    from fewshot.engine.pretrain import pretrain
    from fewshot.engine.trainer import train
    from fewshot.learners import LEARNERS

    torch.set_num_threads(job["threads"])
    config = Path(job["config"])
    config = config if config.suffix else REPO / "configs" / f"{config}.yaml"
    cfg = load_config(config, [f"train.seed={job['seed']}", f"train.device={job['device']}",
                               f"train.threads={job['threads']}", "train.progress=false", "train.tensorboard=false",
                               *job["overrides"]])
    start = time.perf_counter()
    # an interrupted study: continue the run from its last checkpoint (resumes are exact)
    resumed = (run_dir / "checkpoints" / "last.pt").is_file()
    batches = LEARNERS.info(cfg.model.learner).get("training") == "batches"  # as `fewshot train` picks
    result = (pretrain if batches else train)(cfg, run_dir, resume=resumed)
    seconds = time.perf_counter() - start
    curve = val_curve(run_dir)
    provenance = run_provenance(run_dir)
    out = {"config": str(job["config"]), "overrides": list(job["overrides"]), "seed": job["seed"],
           "train_seconds": seconds, "best_val": result.best_val, "curve": curve,
           "commit": provenance.get("commit"), "dirty": provenance.get("dirty"),
           "resumed": resumed}  # then train_seconds is the time after the resume only
    write_json(record, out)
    return out


def val_curve(run_dir: Path) -> List[tuple]:
    """(episode, accuracy, 95% half-width) of every validation in the run's ``metrics.jsonl``."""
    return [(r["episode"], r["val_acc"], r.get("val_ci95")) for r in read_rows(run_dir) if r.get("kind") == "val"]


def run_provenance(run_dir: Path) -> Dict[str, Any]:
    """The run's ``run.json`` (commit, dirty, ...), or {} when it has none."""
    path = Path(run_dir) / "run.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def read_rows(run_dir: Path) -> List[Dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line of a killed run
            pass
    return rows


def test_path(folder: Path, key: str, settings: Dict[str, Any]) -> Path:
    """Where the test ``key`` with these ``settings`` is kept: ``<key>.json``, unless that file holds
    the same key under other settings (then a name with their digest: one never replaces the other)."""
    plain = folder / f"{key}.json"
    if not plain.is_file() or json.loads(plain.read_text()).get("settings") == settings:
        return plain
    return folder / f"{key}_{digest(settings)}.json"


def test_all(run_dir: Path, tests: Dict[str, Dict[str, Any]], device: str = "cpu") -> Dict[str, Dict[str, Any]]:
    """Evaluate the run's best checkpoint for every ``key -> settings`` (``evaluate_run`` keywords
    with one shot in ``shots``, plus ``transductive``: ``{"method", "options", "norm"}``); each
    result is kept in ``tests/<key>.json`` (see :func:`test_path`) and reused for the same settings.
    Settings that differ only in their shot share one ``evaluate_run`` call (the split is embedded
    once for them)."""
    folder = Path(run_dir) / "tests"
    tests = json.loads(json.dumps(tests))  # as stored: tuples become lists, so equal settings compare equal
    paths = {k: test_path(folder, k, settings) for k, settings in tests.items()}
    out = {k: json.loads(path.read_text()) for k, path in paths.items() if path.is_file()}
    groups: Dict[str, List[str]] = {}
    for key, settings in tests.items():
        if key not in out:
            rest = {k: v for k, v in settings.items() if k != "shots"}
            groups.setdefault(json.dumps(rest, sort_keys=True), []).append(key)
    for rest, keys in groups.items():
        shots = [tests[k]["shots"][0] for k in keys]
        results = _evaluate(Path(run_dir), {**json.loads(rest), "shots": sorted(set(shots))}, device)
        for key, shot in zip(keys, shots):
            res, seconds = results[shot]
            out[key] = {"key": key, "settings": tests[key], "accuracy": res.mean, "ci95": res.ci95,
                        "episodes": int(res.episodes), "accuracies": [float(a) for a in res.accuracies],
                        "test_seconds": seconds}
            write_json(paths[key], out[key])
    return out


def _evaluate(run_dir: Path, settings: Dict[str, Any], device: str) -> Dict[int, Any]:
    from fewshot.evaluation.run_eval import evaluate_run
    from fewshot.evaluation.transductive import TransductiveSpec
    from fewshot.transductive import get_method

    kwargs = dict(settings)
    spec = kwargs.pop("transductive", None)
    if spec:
        spec = TransductiveSpec(method=spec["method"], options=dict(spec.get("options", {})),
                                norm=spec.get("norm") or get_method(spec["method"]).norm)
    start = time.perf_counter()
    results = evaluate_run(run_dir, device=device, progress=False, transductive=spec, out_dir=run_dir / "tests",
                           **kwargs)
    seconds = (time.perf_counter() - start) / max(1, len(results))
    return {r.k_shot: (r, seconds) for r in results}


def curve_state(curve: Sequence[Sequence[float]]) -> Dict[str, Any]:
    """Had validation flattened? ``rising`` when the best of the last third of the validations beats
    the best before it by more than :data:`RISING_FRACTION` of their mean 95% half-width."""
    accs = [c[1] for c in curve]
    if len(accs) < 3:
        return {"rising": None, "gain": None, "text": "too few validations to tell"}
    from fewshot.reporting.plots import last_third_start  # the window its figure shades

    cut = last_third_start(len(accs))
    gain = 100 * (max(accs[cut:]) - max(accs[:cut]))
    cis = [c[2] for c in curve if c[2] is not None]
    noise = 100 * RISING_FRACTION * (float(np.mean(cis)) if cis else 0.01)
    rising = gain > noise
    return {"rising": rising, "gain": gain,
            "text": f"still rising (+{gain:.2f} in the last third)" if rising else "flat"}


def paired(base: Sequence[Dict], other: Sequence[Dict]) -> Dict[str, Any]:
    """Difference other - base in points, paired by seed (same seed, same test episodes).

    The 95% interval is the wider of two: a t-interval over the seeds' differences (training
    noise; needs >= 2 seeds) and a normal interval over the per-episode differences pooled over
    seeds (test-episode noise), so neither few seeds nor few test episodes look certain.
    """
    from scipy import stats

    by_seed = {r["seed"]: r for r in base}
    pairs = [(r, by_seed[r["seed"]]) for r in other if r["seed"] in by_seed]
    if not pairs:
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "verdict": "no common seed",
                "basis": "0 seeds"}
    diffs = [100 * (r["accuracy"] - b["accuracy"]) for r, b in pairs]
    per_episode = np.concatenate([100 * (np.asarray(r["accuracies"]) - np.asarray(b["accuracies"]))
                                  for r, b in pairs])
    half = 1.96 * per_episode.std() / np.sqrt(len(per_episode))
    basis = f"{len(diffs)} seed(s) x {len(per_episode) // max(1, len(diffs))} test episodes"
    if len(diffs) >= 2:
        half = max(half, stats.t.ppf(0.975, len(diffs) - 1) * np.std(diffs, ddof=1) / np.sqrt(len(diffs)))
    mean = float(np.mean(diffs))
    verdict = "better" if mean - half > 0 else "worse" if mean + half < 0 else "no clear difference"
    return {"diff": mean, "low": mean - half, "high": mean + half, "verdict": verdict, "basis": basis}


def any_rising(states: Sequence[Dict[str, Any]]) -> Optional[bool]:
    """Is any of these curves (``curve_state`` results) still rising? ``None`` when one cannot tell."""
    if any(st["rising"] is None for st in states):
        return None
    return any(st["rising"] for st in states)


def judged(verdict: str, rising: Optional[bool], base_rising: Optional[bool]) -> str:
    """The verdict a comparison may state given the validation curves.

    Both flat: the paired verdict. More training can only raise a rising curve's best
    checkpoint, so two cases stay decided as bounds: the method still rising while its flat
    baseline is already clearly below it ("better ... a lower bound"), and a flat method already
    clearly below a baseline that still rises ("worse ... an upper bound"). Any other rising
    curve: not decided. ``None`` (too few validations to tell): not decided either."""
    if rising is None or base_rising is None:
        return "not decided (too few validations to tell)"
    if not rising and not base_rising:
        return verdict
    if rising and not base_rising and verdict in ("better", "helped"):
        return f"{verdict} (still rising: a lower bound)"
    if base_rising and not rising and verdict in ("worse", "hurt"):
        return f"{verdict} (baseline still rising: an upper bound)"
    return "not decided (validation still rising)"


def cell(runs: Sequence[Dict]) -> str:
    """``mean ± mean per-run CI, seed sd`` in percent."""
    accs = [100 * r["accuracy"] for r in runs]
    ci = np.mean([100 * r["ci95"] for r in runs])
    sd = f", seed sd {np.std(accs, ddof=1):.2f}" if len(runs) > 1 else ""
    return f"{np.mean(accs):.2f} ± {ci:.2f}{sd}"


def run_pool(jobs: Sequence[Dict[str, Any]], work, n_jobs: int) -> List[Any]:
    """``work(job)`` for every job, in ``n_jobs`` spawned processes (one thread each) or in this one."""
    if n_jobs <= 1:
        return [work(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(n_jobs, mp_context=get_context("spawn")) as pool:
        return list(pool.map(work, jobs))


def commits(records: Sequence[Dict[str, Any]]) -> str:
    found = sorted({(r.get("commit") or "?") + ("+dirty" if r.get("dirty") else "") for r in records})
    return ", ".join(found) if found else "?"


def fmt_seconds(s: Optional[float]) -> str:
    return "-" if s is None else f"{s:.0f}"

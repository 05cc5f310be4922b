#!/usr/bin/env python
"""Does task interpolation help in the few-task regime? ProtoNet and MAML, with and without
MLTI and interval-bound interpolation (IBI), on glyphs-S (12 fixed training classes).

Every variant trains with the same budget (episodes, meta-batch, optimiser, schedule) for every
seed and shot setting, keeps the checkpoint that validated best, and is tested on the same
1,000 5-way episodes of the evaluation split (95% CI per run). The table compares each
interpolated variant with its baseline seed by seed (paired: same seed, same test episodes),
and says whether the difference is clear.

    python scripts/compare_interpolation.py --episodes 4000 --seeds 0 1 2 --jobs 6
    python scripts/compare_interpolation.py --episodes 20 --seeds 0 --test-episodes 50   # smoke run

Runs land in ``--out``, one folder per (config, settings, seed) as ``comparelib.run_name`` names
them (another budget is another folder); finished runs and tests are reused, an interrupted run
resumes from its last checkpoint, and a folder of the earlier layout (``<config>_<k>shot_seed<s>``
with ``compare.json``) is adopted when its config has every setting of the job.
Results: ``<out>/summary.md`` and ``summary.json`` (``summary_tasks<T>.*`` with ``--train-tasks``; a
summary of other arguments already there is kept, see ``comparelib.write_summary``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comparelib  # noqa: E402

REPO = comparelib.REPO

METHODS = {  # label -> (config, baseline label or None)
    "ProtoNet": ("glyphs_s_protonet", None),
    "ProtoNet + MLTI": ("glyphs_s_protonet_mlti", "ProtoNet"),
    "ProtoNet + IBI": ("glyphs_s_protonet_ibi", "ProtoNet"),
    "MAML": ("glyphs_s_maml", None),
    "MAML + MLTI": ("glyphs_s_maml_mlti", "MAML"),
    "MAML + IBI": ("glyphs_s_maml_ibi", "MAML"),
}


def budget(shot: int, episodes: int, validations: int, val_episodes: int, extra: list) -> list:
    """The overrides that define a run of this study (besides config and seed)."""
    every = max(1, episodes // validations)
    return [f"train.k_shot={shot}", f"train.episodes={episodes}", f"train.lr_step={max(1, episodes // 2)}",
            f"train.val_every={every}", f"train.ckpt_every={every}", f"train.val_episodes={val_episodes}", *extra]


def adopt_legacy(job: dict, legacy: Path) -> bool:
    """Give a folder of the earlier layout (``<config>_<k>shot_seed<s>``, results in ``compare.json``)
    the records of ``comparelib`` (``train.json``, ``tests/<key>.json``), if its resolved config has
    every setting of ``job``. Returns whether it did (then ``legacy`` is the job's run folder)."""
    import yaml

    done = legacy / "compare.json"
    if not done.is_file() or not (legacy / "config.yaml").is_file():
        return False
    config = yaml.safe_load((legacy / "config.yaml").read_text())
    for item in [f"train.seed={job['seed']}", *job["overrides"]]:
        key, value = item.split("=", 1)
        node = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != yaml.safe_load(value):
            return False  # another budget or setting: not this job's run
    old = json.loads(done.read_text())
    provenance = comparelib.run_provenance(legacy)
    comparelib.write_json(legacy / "tests" / f"{job['test_key']}.json", {
        "key": job["test_key"], "settings": job["test"], "accuracy": old["accuracy"], "ci95": old["ci95"],
        "episodes": old["episodes"], "accuracies": old["accuracies"], "test_seconds": None})
    comparelib.write_json(legacy / "train.json", {
        "config": job["config"], "overrides": job["overrides"], "seed": job["seed"],
        "train_seconds": old["train_seconds"], "best_val": old["best_val"],
        "curve": comparelib.val_curve(legacy),
        "commit": provenance.get("commit"), "dirty": provenance.get("dirty"), "resumed": False,
        "adopted_from": "compare.json"})
    return True


def run_one(job: dict) -> dict:
    """Train one (method, shot, seed) and test it, through ``comparelib`` (reused when done)."""
    import torch

    torch.set_num_threads(job["threads"])
    record = comparelib.train_once(job)
    test = comparelib.test_all(Path(job["run_dir"]), {job["test_key"]: job["test"]}, job["device"])[job["test_key"]]
    return {**{k: job[k] for k in ("method", "shot", "seed", "run_dir")},
            **{k: test[k] for k in ("accuracy", "ci95", "episodes", "accuracies")},
            "best_val": record["best_val"], "train_seconds": record["train_seconds"], "curve": record["curve"],
            "commit": record.get("commit"), "dirty": record.get("dirty")}


def make_job(method: str, shot: int, seed: int, args, extra: list, suffix: str) -> dict:
    config = METHODS[method][0]
    eps = getattr(args, "ibi_eps", None)
    if eps is not None and "IBI" in method:  # the IBI variants' box only: baselines keep their runs
        extra = [*extra, f"model.options.interpolation.eps={eps}"]
    overrides = budget(shot, args.episodes, args.validations, args.val_episodes, extra)
    job = {"method": method, "config": config, "shot": shot, "seed": seed, "overrides": overrides,
           "device": args.device, "threads": args.threads,
           "test_key": f"test_5way_{shot}shot", "test": {"shots": [shot], "episodes": args.test_episodes}}
    run_dir = args.out / comparelib.run_name(config, overrides, seed)
    legacy = args.out / f"{config}_{shot}shot_seed{seed}{suffix}"
    if not run_dir.exists() and legacy.is_dir() and ((legacy / "train.json").is_file() or adopt_legacy(job, legacy)):
        record = json.loads((legacy / "train.json").read_text())
        if record["overrides"] == overrides:
            run_dir = legacy
    job["run_dir"] = str(run_dir)
    return job


def paired(base: list, other: list) -> dict:
    """comparelib.paired, in this study's words: an interpolated variant helped or hurt."""
    p = comparelib.paired(base, other)
    return {**p, "verdict": {"better": "helped", "worse": "hurt"}.get(p["verdict"], p["verdict"])}


def table(results: list, shots: list, regime: str = "glyphs-S (12 training classes)") -> str:
    cell = {}
    for r in results:
        cell.setdefault((r["method"], r["shot"]), []).append(r)
    states = {(r["method"], r["shot"], r["seed"]): comparelib.curve_state(r["curve"]) for r in results}

    def rising(method, k):
        return comparelib.any_rising([st for (m, shot, _), st in states.items() if m == method and shot == k])

    head = ("| method | " + " | ".join(f"5-way {k}-shot (%) | vs baseline, {k}-shot" for k in shots)
            + " | validation | train s/run |")
    lines = [head, "|" + "---|" * (2 * len(shots) + 3)]
    verdicts = []
    for method, (_, base) in METHODS.items():
        if not any((method, k) in cell for k in shots):
            continue
        row, secs = [method], []
        for k in shots:
            runs = sorted(cell.get((method, k), []), key=lambda r: r["seed"])
            if not runs:
                row += ["-", "-"]
                continue
            row.append(comparelib.cell(runs))
            secs += [r["train_seconds"] for r in runs]
            if base and cell.get((base, k)):
                p = paired(cell[(base, k)], runs)
                verdict = comparelib.judged(p["verdict"], rising(method, k), rising(base, k))
                row.append(f"{p['diff']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}] {verdict}")
                verdicts.append(f"- {method}, {k}-shot: {verdict} ({p['diff']:+.2f} points vs {base}, "
                                f"95% CI [{p['low']:+.2f}, {p['high']:+.2f}], {p['basis']}).")
            else:
                row.append("(baseline)" if not base else "-")
        texts = sorted({st["text"] for (m, _, _), st in states.items() if m == method})
        row.append("; ".join(texts) or "-")
        row.append(f"{np.mean(secs):.0f}" if secs else "-")
        lines.append("| " + " | ".join(row) + " |")
    seeds = sorted({r["seed"] for r in results})
    n_test = results[0]["episodes"] if results else 0
    note = (f"\n{regime}, Conv4-32, seeds {seeds}; each cell: mean over seeds of the "
            f"test accuracy on {n_test} episodes ± mean per-run 95% CI. 'vs baseline': paired difference "
            "in points, 95% CI the wider of a t-interval over seeds and an interval over test episodes; "
            "'helped' / 'hurt' only when it excludes 0, and no verdict where validation was still rising "
            f"(the best of the last third of validations above the best before it by more than "
            f"{comparelib.RISING_FRACTION} of the validation CI), except 'helped (still rising: a lower "
            "bound)' for a variant still rising, clearly above a flat baseline. Same training episodes for "
            "every method; "
            "'train s/run' shows their different cost.\n")
    def count(word):
        return sum(line.split(": ", 1)[1].startswith(word) for line in verdicts)

    undecided = count("not decided")
    overall = (f"\nOverall, interpolation helped in {count('helped')} of {len(verdicts)} comparisons, hurt in "
               f"{count('hurt')} and made no clear difference in {count('no clear difference')}"
               + (f"; {undecided} not decided" if undecided else "") + ".\n")
    return "\n".join(lines) + "\n" + note + "\n" + "\n".join(verdicts) + "\n" + overall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=4000, help="training episodes per run (same for all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD")
    ap.add_argument("--test-episodes", type=int, default=1000)
    ap.add_argument("--val-episodes", type=int, default=200)
    ap.add_argument("--validations", type=int, default=8, help="validations (and checkpoints) per run")
    ap.add_argument("--train-tasks", type=int, default=None, metavar="T",
                    help="the few-task regime's other axis: train on T fixed tasks (data.train_tasks) drawn "
                         "from the 12 classes; runs go to their own folders")
    ap.add_argument("--ibi-eps", type=float, default=None, metavar="EPS",
                    help="the IBI variants' box half-width in [0, 1] pixel units (default: their configs' "
                         "0.1); the other methods are unchanged and keep their runs")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "compare_interpolation")
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. train.lr=0.002")
    args = ap.parse_args(argv)
    if args.train_tasks is not None and args.train_tasks < 1:
        ap.error(f"--train-tasks must be >= 1, got {args.train_tasks}")
    if args.ibi_eps is not None and not 0 < args.ibi_eps <= 1:
        ap.error(f"--ibi-eps is in [0, 1] pixel units and must be > 0, got {args.ibi_eps}")
    if args.ibi_eps is not None and not any("IBI" in m for m in args.methods):
        ap.error("--ibi-eps changes only the IBI variants: add 'ProtoNet + IBI' or 'MAML + IBI' to --methods")
    tasks = [f"data.train_tasks={args.train_tasks}"] if args.train_tasks else []
    suffix = f"_tasks{args.train_tasks}" if args.train_tasks else ""
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [make_job(m, k, s, args, [*tasks, *args.overrides], suffix)
            for m in args.methods for k in args.shots for s in args.seeds]
    results = []
    for r in comparelib.run_pool(jobs, run_one, args.jobs):
        results.append(r)
        print(f"done: {r['method']} {r['shot']}-shot seed {r['seed']}: {100 * r['accuracy']:.2f}%", flush=True)
    regime = (f"glyphs-S with {args.train_tasks} fixed training tasks of its 12 classes" if args.train_tasks
              else "glyphs-S (12 training classes)") + (f", IBI eps {args.ibi_eps}" if args.ibi_eps is not None else "")
    summary = table(results, args.shots, regime)
    curves: dict = {}  # panel per shot -> method -> the seeds' validation curves
    for r in sorted(results, key=lambda r: (r["shot"], r["seed"])):
        curves.setdefault(f"5-way {r['shot']}-shot", {}).setdefault(r["method"], []).append(r["curve"])
    path = comparelib.write_summary(
        args.out, f"summary{suffix}", comparelib.study_settings(args), summary,
        [{k: v for k, v in r.items() if k not in ("accuracies", "curve")} for r in results], curves)
    print("\n" + summary + f"\n(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

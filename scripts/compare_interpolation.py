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

Runs land in ``--out`` (one folder per method/shot/seed); finished runs are reused, so an
interrupted comparison continues where it stopped. Results: ``<out>/summary.md``, ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

METHODS = {  # label -> (config, baseline label or None)
    "ProtoNet": ("glyphs_s_protonet", None),
    "ProtoNet + MLTI": ("glyphs_s_protonet_mlti", "ProtoNet"),
    "ProtoNet + IBI": ("glyphs_s_protonet_ibi", "ProtoNet"),
    "MAML": ("glyphs_s_maml", None),
    "MAML + MLTI": ("glyphs_s_maml_mlti", "MAML"),
    "MAML + IBI": ("glyphs_s_maml_ibi", "MAML"),
}


def run_one(job: dict) -> dict:
    """Train one (method, shot, seed) and test it; reuse a finished run's ``compare.json``."""
    os.environ.setdefault("OMP_NUM_THREADS", str(job["threads"]))
    import torch

    from fewshot.config import load_config
    from fewshot.engine.trainer import train
    from fewshot.evaluation.run_eval import evaluate_run

    run_dir = Path(job["run_dir"])
    done = run_dir / "compare.json"
    if done.is_file():
        return json.loads(done.read_text())
    torch.set_num_threads(job["threads"])
    e = job["episodes"]
    overrides = [f"train.k_shot={job['shot']}", f"train.seed={job['seed']}", f"train.episodes={e}",
                 f"train.lr_step={max(1, e // 2)}", f"train.val_every={max(1, e // job['validations'])}",
                 f"train.ckpt_every={max(1, e // job['validations'])}", f"train.val_episodes={job['val_episodes']}",
                 f"train.device={job['device']}", f"train.threads={job['threads']}", "train.progress=false",
                 "train.tensorboard=false", *job["overrides"]]
    cfg = load_config(REPO / "configs" / f"{job['config']}.yaml", overrides)
    start = time.perf_counter()
    result = train(cfg, run_dir)
    seconds = time.perf_counter() - start
    res = evaluate_run(run_dir, shots=[job["shot"]], episodes=job["test_episodes"], device=job["device"],
                       progress=False)[0]
    out = {**{k: job[k] for k in ("method", "shot", "seed")}, "accuracy": res.mean, "ci95": res.ci95,
           "episodes": int(res.episodes), "accuracies": [float(a) for a in res.accuracies],
           "best_val": result.best_val, "train_seconds": seconds}
    done.write_text(json.dumps(out))
    return out


def paired(base: list, other: list) -> dict:
    """Difference other - base in points, paired by seed (same seed, same test episodes).

    The 95% interval is the wider of two: a t-interval over the seeds' differences (training
    noise; needs >= 2 seeds) and a normal interval over the per-episode differences pooled over
    seeds (test-episode noise), so neither few seeds nor few test episodes look certain.
    """
    from scipy import stats

    by_seed = {r["seed"]: r for r in base}
    pairs = [(r, by_seed[r["seed"]]) for r in other if r["seed"] in by_seed]
    diffs = [100 * (r["accuracy"] - b["accuracy"]) for r, b in pairs]
    per_episode = np.concatenate([100 * (np.asarray(r["accuracies"]) - np.asarray(b["accuracies"]))
                                  for r, b in pairs])
    half = 1.96 * per_episode.std() / np.sqrt(len(per_episode))
    basis = f"{len(diffs)} seed(s) x {len(per_episode) // max(1, len(diffs))} test episodes"
    if len(diffs) >= 2:
        half = max(half, stats.t.ppf(0.975, len(diffs) - 1) * np.std(diffs, ddof=1) / np.sqrt(len(diffs)))
    mean = float(np.mean(diffs))
    verdict = "helped" if mean - half > 0 else "hurt" if mean + half < 0 else "no clear difference"
    return {"diff": mean, "low": mean - half, "high": mean + half, "verdict": verdict, "basis": basis}


def table(results: list, shots: list) -> str:
    cell = {}
    for r in results:
        cell.setdefault((r["method"], r["shot"]), []).append(r)
    head = "| method | " + " | ".join(f"5-way {k}-shot (%) | vs baseline, {k}-shot" for k in shots) + " | train s/run |"
    lines = [head, "|" + "---|" * (2 * len(shots) + 2)]
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
            accs = [100 * r["accuracy"] for r in runs]
            ci = np.mean([100 * r["ci95"] for r in runs])
            sd = f", seed sd {np.std(accs, ddof=1):.2f}" if len(runs) > 1 else ""
            row.append(f"{np.mean(accs):.2f} ± {ci:.2f}{sd}")
            secs += [r["train_seconds"] for r in runs]
            if base and cell.get((base, k)):
                p = paired(cell[(base, k)], runs)
                row.append(f"{p['diff']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}] {p['verdict']}")
                verdicts.append(f"- {method}, {k}-shot: {p['verdict']} ({p['diff']:+.2f} points vs {base}, "
                                f"95% CI [{p['low']:+.2f}, {p['high']:+.2f}], {p['basis']}).")
            else:
                row.append("(baseline)" if not base else "-")
        row.append(f"{np.mean(secs):.0f}" if secs else "-")
        lines.append("| " + " | ".join(row) + " |")
    seeds = sorted({r["seed"] for r in results})
    n_test = results[0]["episodes"] if results else 0
    note = (f"\nglyphs-S (12 training classes), Conv4-32, seeds {seeds}; each cell: mean over seeds of the "
            f"test accuracy on {n_test} episodes ± mean per-run 95% CI. 'vs baseline': paired difference "
            "in points, 95% CI the wider of a t-interval over seeds and an interval over test episodes; "
            "'helped' / 'hurt' only when it excludes 0. Same training episodes for every method; "
            "'train s/run' shows their different cost.\n")
    counts = {v: sum(f": {v} (" in line for line in verdicts) for v in ("helped", "hurt", "no clear difference")}
    overall = (f"\nOverall, interpolation helped in {counts['helped']} of {len(verdicts)} comparisons, hurt in "
               f"{counts['hurt']} and made no clear difference in {counts['no clear difference']}.\n")
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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "compare_interpolation")
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. train.lr=0.002")
    args = ap.parse_args(argv)
    jobs = [{"method": m, "config": METHODS[m][0], "shot": k, "seed": s, "episodes": args.episodes,
             "test_episodes": args.test_episodes, "val_episodes": args.val_episodes,
             "validations": args.validations, "device": args.device, "threads": args.threads,
             "overrides": args.overrides,
             "run_dir": str(args.out / f"{METHODS[m][0]}_{k}shot_seed{s}")}
            for m in args.methods for k in args.shots for s in args.seeds]
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            for r in pool.map(run_one, jobs):
                results.append(r)
                print(f"done: {r['method']} {r['shot']}-shot seed {r['seed']}: {100 * r['accuracy']:.2f}%", flush=True)
    else:
        for job in jobs:
            r = run_one(job)
            results.append(r)
            print(f"done: {r['method']} {r['shot']}-shot seed {r['seed']}: {100 * r['accuracy']:.2f}%", flush=True)
    summary = table(results, args.shots)
    (args.out / "summary.md").write_text(summary)
    (args.out / "results.json").write_text(json.dumps(
        [{k: v for k, v in r.items() if k != "accuracies"} for r in results], indent=1))
    print("\n" + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

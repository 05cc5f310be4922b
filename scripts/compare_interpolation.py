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
        return {**json.loads(done.read_text()), "run_dir": str(run_dir)}
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
    out = {**{k: job[k] for k in ("method", "shot", "seed", "run_dir")}, "accuracy": res.mean, "ci95": res.ci95,
           "episodes": int(res.episodes), "accuracies": [float(a) for a in res.accuracies],
           "best_val": result.best_val, "train_seconds": seconds}
    comparelib.write_json(done, out)
    return out


def paired(base: list, other: list) -> dict:
    """comparelib.paired, in this study's words: an interpolated variant helped or hurt."""
    p = comparelib.paired(base, other)
    return {**p, "verdict": {"better": "helped", "worse": "hurt"}.get(p["verdict"], p["verdict"])}


def curve(run_dir: str) -> dict:
    rows = comparelib.read_rows(Path(run_dir))
    return comparelib.curve_state([(r["episode"], r["val_acc"], r.get("val_ci95")) for r in rows
                                   if r.get("kind") == "val"])


def table(results: list, shots: list, regime: str = "glyphs-S (12 training classes)") -> str:
    cell = {}
    for r in results:
        cell.setdefault((r["method"], r["shot"]), []).append(r)
    states = {(r["method"], r["shot"], r["seed"]): curve(r["run_dir"]) for r in results if r.get("run_dir")}

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
               + (f"; {undecided} not decided (validation still rising)" if undecided else "") + ".\n")
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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "compare_interpolation")
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. train.lr=0.002")
    args = ap.parse_args(argv)
    if args.train_tasks is not None and args.train_tasks < 1:
        ap.error(f"--train-tasks must be >= 1, got {args.train_tasks}")
    tasks = [f"data.train_tasks={args.train_tasks}"] if args.train_tasks else []
    suffix = f"_tasks{args.train_tasks}" if args.train_tasks else ""
    jobs = [{"method": m, "config": METHODS[m][0], "shot": k, "seed": s, "episodes": args.episodes,
             "test_episodes": args.test_episodes, "val_episodes": args.val_episodes,
             "validations": args.validations, "device": args.device, "threads": args.threads,
             "overrides": [*tasks, *args.overrides],
             "run_dir": str(args.out / f"{METHODS[m][0]}_{k}shot_seed{s}{suffix}")}
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
    regime = (f"glyphs-S with {args.train_tasks} fixed training tasks of its 12 classes" if args.train_tasks
              else "glyphs-S (12 training classes)")
    summary = table(results, args.shots, regime)
    (args.out / f"summary{suffix}.md").write_text(summary)
    comparelib.write_json(args.out / f"results{suffix}.json",
                          [{k: v for k, v in r.items() if k != "accuracies"} for r in results])
    print("\n" + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

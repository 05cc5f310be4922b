#!/usr/bin/env python
"""The seed papers' claims, tested on glyphs at a difficulty where they can show.

Studies (``--studies``, default all):

- ``losses``: Proto-Triplet and ICNN vs ProtoNet (the paper: about +2 points on miniImageNet),
  tested 20-way, where glyphs' 5-way accuracies do not saturate.
- ``transductive``: pre-training + each transductive method vs episodic ProtoNet ("clustering
  is all you need": even plain K-means on a pre-trained backbone competes with meta-learning),
  5-way and 20-way (5-way 5-shot saturates near 99% on glyphs).
- ``matchingnet``: ProtoNet vs Matching Networks at 5-shot (Snell et al.), MatchingNet as the
  paper (softmax temperature 1) and with a learned temperature.
- ``crossdomain``: the same models from glyphs to Fashion-MNIST and to scikit-learn's digits
  (an image folder written from ``sklearn.datasets.load_digits``).

Every run trains with the same budget (``--episodes``: episodes, or batches for pre-training;
validation ``--validations`` times), keeps its best validation checkpoint, and is tested on the
same episodes as every other method (same seed, ``--test-episodes``). A row is compared with its
baseline seed by seed (paired), with a 95% interval (see ``comparelib.paired``); a row whose
training validation was still rising gets no verdict. Runs and tests are reused: an interrupted
study continues, and studies share their runs (ProtoNet is trained once for all four).

    python scripts/compare_claims.py --episodes 1000 --seeds 0 1 2 --jobs 2
    python scripts/compare_claims.py --episodes 20 --seeds 0 --test-episodes 20 --studies losses  # smoke

Results: ``<out>/claims.md`` and ``<out>/claims.json`` (a summary of other arguments already there
is kept, and this one gets a name with their digest: see ``comparelib.write_summary``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comparelib  # noqa: E402
from comparelib import REPO, cell, commits, curve_state, paired, run_name, run_pool  # noqa: E402

#: trained models: label -> (config, overrides of its own)
RUNS = {  # in the order they train (seed by seed: every method of seed 0 first)
    "ProtoNet": ("glyphs_protonet", []),
    "pre-training": ("glyphs_pretrain", []),
    "Proto-Triplet": ("glyphs_protonet_triplet", []),
    "ICNN": ("glyphs_protonet_icnn", []),
    "MatchingNet (learned T)": ("glyphs_matchingnet", ["model.options.similarity=cosine",
                                                       "model.options.learn_temperature=true"]),
    "MatchingNet (T = 1, paper)": ("glyphs_matchingnet", ["model.options.similarity=cosine"]),
    "MatchingNet (T = 0.1)": ("glyphs_matchingnet", ["model.options.similarity=cosine",
                                                     "model.options.temperature=0.1"]),
    "MatchingNet (support-normalised)": ("glyphs_matchingnet", ["model.options.similarity=support_normalised"]),
}


def way(n: int, k: int, **more) -> Dict[str, Any]:
    """One test column's episode shape: ``n``-way ``k``-shot (and any other test settings)."""
    return {"n_way": n, "shots": [k], **more}


def transductive(method: str, norm: str = "", **options) -> Dict[str, Any]:
    return {"method": method, "options": options, **({"norm": norm} if norm else {})}


# the cross-domain targets ("{digits}" is filled with the folder ``write_digits`` made)
FASHION_MNIST = {"name": "fashion_mnist", "split": "test"}
DIGITS = {"name": "imagefolder", "root": "{digits}"}

STUDIES: Dict[str, Dict[str, Any]] = {
    "losses": {
        "claim": "Proto-Triplet and ICNN losses improve on ProtoNet",
        "paper": "about +2% over ProtoNet on miniImageNet (arXiv 2305.09062), with the authors' code",
        "tests": {"20-way 1-shot": way(20, 1), "20-way 5-shot": way(20, 5)},
        "rows": [("ProtoNet", "ProtoNet", None, None), ("Proto-Triplet", "Proto-Triplet", None, "ProtoNet"),
                 ("ICNN", "ICNN", None, "ProtoNet")],
    },
    "transductive": {
        "claim": "transductive clustering on a standard pre-trained backbone competes with episodic meta-learning",
        "paper": "miniImageNet 1 / 5-shot on a WRN pre-trained with cross-entropy: K-means 73.80 / 84.62, "
                 "LaplacianShot 73.44 / 83.93, TIM-GD 77.8 / 87.4, against ProtoNet's published Conv4 "
                 "49.42 / 68.20 (other backbones; the claim is the ranking)",
        # 20-way as well: at 5-way glyphs' 5-shot accuracies sit near 99%, where little can separate
        "tests": {"5-way 1-shot": way(5, 1), "5-way 5-shot": way(5, 5),
                  "20-way 1-shot": way(20, 1), "20-way 5-shot": way(20, 5)},
        "rows": [("ProtoNet (inductive)", "ProtoNet", None, None),
                 ("ProtoNet + LaplacianShot", "ProtoNet", transductive("laplacianshot"), "ProtoNet (inductive)"),
                 ("pre-training + nearest centroid (SimpleShot CL2N)", "pre-training", None, "ProtoNet (inductive)"),
                 ("pre-training + K-means", "pre-training", transductive("kmeans"), "ProtoNet (inductive)"),
                 ("pre-training + soft K-means", "pre-training", transductive("soft-kmeans"), "ProtoNet (inductive)"),
                 ("pre-training + BD-CSPN", "pre-training", transductive("bd-cspn"), "ProtoNet (inductive)"),
                 ("pre-training + LaplacianShot", "pre-training", transductive("laplacianshot"),
                  "ProtoNet (inductive)"),
                 ("pre-training + TIM", "pre-training", transductive("tim"), "ProtoNet (inductive)"),
                 ("pre-training + PT-MAP", "pre-training", transductive("pt-map"), "ProtoNet (inductive)")],
    },
    "matchingnet": {
        "claim": "Prototypical Networks beat Matching Networks, most clearly at 5-shot",
        "paper": "miniImageNet 5-way Conv4, 1 / 5-shot: ProtoNet 49.42 / 68.20 (Snell et al. 2017) vs "
                 "Matching Networks 43.56 / 55.31 (Ravi & Larochelle's re-run)",
        "tests": {"5-way 5-shot": way(5, 5), "5-way 1-shot": way(5, 1)},
        "rows": [("ProtoNet", "ProtoNet", None, None),
                 ("MatchingNet (T = 1, paper)", "MatchingNet (T = 1, paper)", None, "ProtoNet"),
                 ("MatchingNet (learned T)", "MatchingNet (learned T)", None, "ProtoNet"),
                 ("MatchingNet (T = 0.1)", "MatchingNet (T = 0.1)", None, "ProtoNet"),
                 ("MatchingNet (support-normalised, the re-implementations)", "MatchingNet (support-normalised)",
                  None, "ProtoNet")],
    },
    "crossdomain": {
        "claim": "the comparisons above hold off the training domain",
        "paper": "no number from the seed papers: the same models, tested on other domains",
        "tests": {f"{name} {k}-shot": way(5, k, target_data=target)
                  for name, target in (("Fashion-MNIST", FASHION_MNIST), ("digits", DIGITS)) for k in (1, 5)},
        "rows": [("ProtoNet", "ProtoNet", None, None), ("Proto-Triplet", "Proto-Triplet", None, "ProtoNet"),
                 ("ICNN", "ICNN", None, "ProtoNet"),
                 ("MatchingNet (learned T)", "MatchingNet (learned T)", None, "ProtoNet"),
                 ("pre-training + nearest centroid", "pre-training", None, "ProtoNet"),
                 ("pre-training + LaplacianShot", "pre-training", transductive("laplacianshot"), "ProtoNet"),
                 ("pre-training + nearest centroid (episode-cl2n)", "pre-training",
                  transductive("nearest-centroid", norm="episode-cl2n"), "ProtoNet"),
                 ("pre-training + LaplacianShot (episode-cl2n)", "pre-training",
                  transductive("laplacianshot", norm="episode-cl2n"), "ProtoNet")],
    },
}


def write_digits(folder: Path) -> Path:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes) as ``folder/<digit>/<n>.png``."""
    done = folder / ".complete"
    if done.is_file():
        return folder
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("the digits target needs scikit-learn (pip install scikit-learn), or leave out --studies crossdomain")
    from PIL import Image

    digits = load_digits()
    for n, (image, label) in enumerate(zip(digits.images, digits.target)):
        path = folder / str(int(label)) / f"{n:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.uint8(np.round(image * 255 / 16))).save(path)
    done.write_text("ok\n")
    return folder


def budget(config: str, episodes: int, validations: int, val_episodes: int) -> List[str]:
    every = max(1, episodes // validations)
    common = [f"train.episodes={episodes}", f"train.val_every={every}", f"train.ckpt_every={every}",
              f"train.val_episodes={val_episodes}", "eval.untrained_baseline=false"]
    if "pretrain" in config:  # SGD milestones at 1/2 and 3/4, as the config's 1000 / 1500 of 2000
        return common + [f"pretrain.milestones=[{episodes // 2},{3 * episodes // 4}]"]
    return common + [f"train.lr_step={max(1, episodes // 2)}"]


def work(job: Dict[str, Any]) -> Dict[str, Any]:
    """Train one run (or reuse it) and run every test it is needed for."""
    import torch

    torch.set_num_threads(job["threads"])
    record = comparelib.train_once(job)
    tests = comparelib.test_all(Path(job["run_dir"]), job["tests"], job["device"])
    print(f"done: {job['label']} seed {job['seed']} ({len(tests)} tests)", flush=True)
    return {"label": job["label"], "seed": job["seed"], "record": record, "tests": tests}


def test_key(study: str, column: str, row: str) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in f"{study}__{column}__{row}")
    return safe.strip("_")[:150]


def table(name: str, study: Dict[str, Any], done: Dict, seeds: List[int]) -> str:
    columns = list(study["tests"])
    lines = [f"#### {name}: {study['claim']}", "", f"Paper: {study['paper']}.", "",
             "| method | " + " | ".join(f"{c} (%) | vs baseline" for c in columns) + " | validation | train s/run |",
             "|" + "---|" * (2 * len(columns) + 3)]
    verdicts = []
    results = {}
    for row, run, _, _ in study["rows"]:
        for c in columns:
            results[(row, c)] = [done[(run, s)]["tests"][test_key(name, c, row)] | {"seed": s}
                                 for s in seeds if (run, s) in done]
    for row, run, _, base in study["rows"]:
        recs = [done[(run, s)]["record"] for s in seeds if (run, s) in done]
        states = [curve_state(r["curve"]) for r in recs]
        rising = comparelib.any_rising(states)
        out = [row]
        for c in columns:
            runs = results[(row, c)]
            out.append(cell(runs) if runs else "-")
            if base is None:
                out.append("(baseline)")
                continue
            p = paired(results[(base, c)], runs)
            base_run = next(r for label, r, _, _ in study["rows"] if label == base)
            base_rising = comparelib.any_rising([curve_state(done[(base_run, s)]["record"]["curve"])
                                                 for s in seeds if (base_run, s) in done])
            # the same trained network under two inference methods: its training curve is no
            # reason to withhold the verdict (it is the same for both)
            verdict = p["verdict"] if base_run == run else comparelib.judged(p["verdict"], rising, base_rising)
            out.append(f"{p['diff']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}] {verdict}")
            verdicts.append(f"- {row}, {c}: {verdict} ({p['diff']:+.2f} points vs {base}, 95% CI "
                            f"[{p['low']:+.2f}, {p['high']:+.2f}], {p['basis']}).")
        out.append("; ".join(sorted({st["text"] for st in states})) or "-")
        out.append(f"{np.mean([r['train_seconds'] for r in recs]):.0f}" if recs else "-")
        lines.append("| " + " | ".join(out) + " |")
    used = [done[(run, s)]["record"] for _, run, _, _ in study["rows"] for s in seeds if (run, s) in done]
    n_test = next(iter(results.values()))[0]["episodes"] if results and next(iter(results.values())) else 0
    lines += ["", f"Seeds {seeds}; {n_test} test episodes per cell (15 queries, the same episodes for every "
              f"method); code of commit(s) {commits(used)}.", "", *verdicts, ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studies", nargs="+", default=list(STUDIES), choices=list(STUDIES))
    ap.add_argument("--episodes", type=int, default=1000, help="training episodes (pre-training: batches) per run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--difficulty", type=float, default=1.33, help="glyphs data.options.difficulty (1 = default)")
    ap.add_argument("--test-episodes", type=int, default=1000)
    ap.add_argument("--val-episodes", type=int, default=200)
    ap.add_argument("--validations", type=int, default=8, help="validations (and checkpoints) per run")
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS), metavar="RUN",
                    help="train only these models (labels of RUNS; default all): rows on the others are left out")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes, one thread each)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "compare_claims")
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. train.lr=0.002")
    args = ap.parse_args(argv)
    for name, value in (("--episodes", args.episodes), ("--test-episodes", args.test_episodes),
                        ("--validations", args.validations), ("--jobs", args.jobs)):
        if value < 1:
            ap.error(f"{name} must be >= 1, got {value}")
    studies = {}
    for name in args.studies:
        rows = [row for row in STUDIES[name]["rows"] if row[1] in args.runs]
        kept = {row[0] for row in rows}
        for row, _, _, base in rows:
            if base is not None and base not in kept:
                ap.error(f"--runs leaves out {base!r}, the baseline of {row!r} in study {name!r}: add it to --runs")
        if len(rows) > 1:
            studies[name] = STUDIES[name] | {"rows": rows}
    if not studies:
        ap.error("--runs leaves no comparison in the chosen --studies: name a baseline and at least one other model")
    args.out.mkdir(parents=True, exist_ok=True)
    digits = str(write_digits(args.out / "digits")) if "crossdomain" in studies else None
    data = [f"data.options.difficulty={args.difficulty}"] if args.difficulty != 1.0 else []
    needed: Dict[str, Dict[str, Dict]] = {}  # run label -> test key -> settings
    for name, study in studies.items():
        for row, run, spec, _ in study["rows"]:
            for column, settings in study["tests"].items():
                s = json.loads(json.dumps(settings).replace("{digits}", digits or ""))
                s.update({"n_query": 15, "episodes": args.test_episodes, "seed": 1234})
                if spec:
                    s["transductive"] = spec
                needed.setdefault(run, {})[test_key(name, column, row)] = s
    jobs = []
    for seed in args.seeds:
        for label in [name for name in RUNS if name in needed]:
            config, own = RUNS[label]
            tests = needed[label]
            overrides = [*budget(config, args.episodes, args.validations, args.val_episodes), *data, *own,
                         *args.overrides]
            jobs.append({"label": label, "config": config, "overrides": overrides, "seed": seed, "tests": tests,
                         "threads": 1, "device": args.device,
                         "run_dir": str(args.out / run_name(config, overrides, seed))})
    start = time.perf_counter()
    done = {(r["label"], r["seed"]): r for r in run_pool(jobs, work, args.jobs)}
    text = [f"Glyphs, difficulty {args.difficulty}, {args.episodes} training episodes per run "
            f"(pre-training: batches of 128), best of {args.validations} validations; "
            f"`python scripts/compare_claims.py --episodes {args.episodes} --seeds "
            f"{' '.join(map(str, args.seeds))} --studies {' '.join(studies)}"
            + ("" if set(args.runs) == set(RUNS) else " --runs " + " ".join(f'"{r}"' for r in args.runs))
            + "` "
            f"({time.perf_counter() - start:.0f} s this invocation).", ""]
    text += [table(name, study, done, args.seeds) for name, study in studies.items()]
    summary = "\n".join(text)
    records = [{k: v for k, v in r.items() if k != "tests"} |
               {"tests": {t: {k: v for k, v in res.items() if k != "accuracies"} for t, res in r["tests"].items()}}
               for r in done.values()]
    curves = {label: {label: [done[(label, s)]["record"]["curve"] for s in args.seeds if (label, s) in done]}
              for label in RUNS if any((label, s) in done for s in args.seeds)}
    path = comparelib.write_summary(args.out, "claims", comparelib.study_settings(args), summary, records, curves,
                                    xlabel="training episode (pre-training: optimiser step)")
    print("\n" + summary + f"\n(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

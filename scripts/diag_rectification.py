#!/usr/bin/env python
"""Why LaplacianShot's prototype rectification can collapse on another domain: its inner numbers.

Evaluates a run with ``--transductive laplacianshot`` (official rectification) and records, for
every episode, what the rectification sees: how much a point's cosine to its nearest plain
prototype beats the second nearest, the softmax weight (over the classes, 10 x cosine) of its
class, the length of the rectified prototypes against the plain ones, and the share of the
queries that the rectified prototypes send to a single class.

    python scripts/diag_rectification.py RUN --episodes 100 --shot 5 \\
        --target imagefolder:DIGITS_FOLDER --target fashion_mnist:test

Each ``--target`` is ``NAME[:ROOT_OR_SPLIT]``; the run's own test split is always the first row.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--shot", type=int, default=5)
    ap.add_argument("--norm", default="cl2n", help="feature normalisation before LaplacianShot (default its own)")
    ap.add_argument("--target", action="append", default=[], metavar="NAME[:ROOT_OR_SPLIT]")
    ap.add_argument("--out", type=Path, default=Path("runs") / "diag_rectification",
                    help="where evaluate_run writes its results (not the run folder)")
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    import fewshot.transductive.laplacianshot as lshot
    from fewshot.evaluation.run_eval import evaluate_run
    from fewshot.evaluation.transductive import TransductiveSpec
    from fewshot.transductive.prototypes import prototypes

    seen = []
    rectify = lshot.softmax_rectify_prototypes

    def watched(zs, ys, zq, n_way, temperature=10.0):
        rect = rectify(zs, ys, zq, n_way, temperature)
        plain = prototypes(zs, ys, n_way)
        pool = torch.cat([zs, zq], 1)
        cos = F.normalize(pool, dim=-1) @ F.normalize(plain, dim=-1).transpose(1, 2)
        top2 = cos.topk(2, -1).values
        pred = torch.cdist(zq, rect).argmin(-1)
        share = torch.stack([(pred == k).float().mean(1) for k in range(n_way)], -1).max(-1).values
        seen.append({"cosine gap": (top2[..., 0] - top2[..., 1]).mean().item(),
                     "weight": (temperature * cos).softmax(-1).max(-1).values.mean().item(),
                     "length ratio": (rect.norm(dim=-1) / plain.norm(dim=-1)).mean().item(),
                     "top class share": share.mean().item()})
        return rect

    lshot.softmax_rectify_prototypes = watched
    try:
        return _report(args, seen, evaluate_run, TransductiveSpec)
    finally:
        lshot.softmax_rectify_prototypes = rectify


def _report(args, seen, evaluate_run, TransductiveSpec) -> int:
    TransductiveSpec(method="laplacianshot", norm=args.norm)  # a wrong --norm: refused before any output
    targets = [("own test split", None)]
    for t in args.target:
        name, _, rest = t.partition(":")
        spec = {"name": name}
        if rest:
            spec["split" if rest in ("train", "val", "test") else "root"] = rest
        targets.append((t, spec))
    print("| target | accuracy (%) | cosine gap top-1 vs top-2 | weight of its nearest class "
          "| rectified / plain length | queries in the largest class |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, spec in targets:
        seen.clear()
        res = evaluate_run(args.run, n_way=5, shots=[args.shot], episodes=args.episodes, progress=False,
                           transductive=TransductiveSpec(method="laplacianshot", norm=args.norm),
                           target_data=spec, out_dir=args.out)[0]
        mean = {k: sum(d[k] for d in seen) / len(seen) for k in seen[0]}
        print(f"| {label} | {100 * res.mean:.2f} | {mean['cosine gap']:.3f} | {mean['weight']:.3f} | "
              f"{mean['length ratio']:.3f} | {100 * mean['top class share']:.1f}% |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as err:  # a wrong run folder, target or option: one line, no traceback
        from fewshot.runs.checkpoint import CheckpointError

        if not isinstance(err, (FileNotFoundError, ValueError, CheckpointError)):
            raise
        sys.exit(f"diag_rectification: {err}")

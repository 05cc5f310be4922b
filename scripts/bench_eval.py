"""Feature-cached evaluation vs running the backbone on every episode, on glyphs' evaluation split.

Both paths evaluate the same ProtoNet (Conv4-64, fresh seeded weights: speed does not depend on
training) on the same 1,000 5-way episodes. The per-episode path embeds the support and query
images of each episode; the cached path embeds the split once and then gathers features. The
script checks that every episode's accuracy is identical and prints the speed ratio (target: the
cached path at least 10x faster for 1,000 episodes).

    python scripts/bench_eval.py [--episodes 1000 --shots 1 5 --run RUN_DIR]

With ``--run`` the run's best checkpoint is evaluated instead (on its own test split).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from episodes import EpisodeSampler
from fewshot.backbones import Conv4
from fewshot.data.registry import load_split
from fewshot.evaluation.evaluate import evaluate
from fewshot.learners import create_learner
from fewshot.runs.inputs import Normalizer, pixel_stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--query", type=int, default=15)
    p.add_argument("--run", help="a run folder or checkpoint (default: fresh Conv4 ProtoNet on glyphs)")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.run:
        from fewshot.data.registry import load_from_config
        from fewshot.evaluation.run_eval import load_learner, resolve_checkpoint

        ckpt, _ = resolve_checkpoint(a.run)
        learner, cfg, norm = load_learner(ckpt, "cpu")
        split = load_from_config(cfg.data, cfg.data.test_split)
    else:
        split = load_split("glyphs", "evaluation", image_size=28)
        torch.manual_seed(0)
        learner = create_learner("protonet", Conv4(1, 64))
        norm = Normalizer(*pixel_stats(split.images))
    print(f"{split.name}: {len(split)} images, {split.num_classes} classes; {a.way}-way, {a.query} queries, "
          f"{a.episodes} episodes, 1 thread")
    print("\n| shots | per-episode backbone (s) | feature cache (s) | speed-up | identical accuracies |")
    print("|---:|---:|---:|---:|---|")
    for k in a.shots:
        times, results = {}, {}
        for cached in (False, True):
            start = time.perf_counter()
            sampler = EpisodeSampler(split.labels, n_way=a.way, k_shot=k, n_query=a.query,
                                     n_episodes=a.episodes, seed=1234)
            results[cached] = evaluate(learner, split, norm, sampler, feature_cache=cached)
            times[cached] = time.perf_counter() - start
        same = np.allclose(results[False].accuracies, results[True].accuracies, rtol=0, atol=1e-9)
        print(f"| {k} | {times[False]:.1f} | {times[True]:.1f} | {times[False] / times[True]:.1f}x | "
              f"{same} ({100 * results[True].mean:.2f}%) |")


if __name__ == "__main__":
    main()

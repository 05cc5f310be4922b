"""The MAML family's two engines side by side: learn2learn's per-task loop vs the vectorised one.

Meta-training: optimiser steps per second (a meta-batch of ``--meta-batch`` tasks, the trainer's
arithmetic: one backward per task for learn2learn, one ``meta_batch_loss`` for vectorised).
Evaluation: test episodes per second (``fit_support`` / ``forward`` per episode vs
``adapt_many`` over chunks of episodes). Both engines start from the same weights and see the
same random episodes; the script first checks they agree (loss and gradient of one step, and
the evaluation accuracies of every timed episode), then times them in interleaved rounds (every
path once per round, so load changes hit both alike) and prints medians and the median of the
per-round ratios.

    python scripts/bench_maml.py              # all settings, one thread (slow on a CPU: 84x84 dominates)
    python scripts/bench_maml.py --sizes 28 --shots 1 --rounds 2  # a quick look
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from fewshot.backbones import Conv4
from fewshot.learners import LEARNERS


def make_tasks(n_tasks, n_way, k_shot, n_query, channels, size, seed):
    g = torch.Generator().manual_seed(seed)
    ys, yq = torch.arange(n_way).repeat_interleave(k_shot), torch.arange(n_way).repeat_interleave(n_query)
    return [(torch.randn(n_way * k_shot, channels, size, size, generator=g), ys,
             torch.randn(n_way * n_query, channels, size, size, generator=g), yq) for _ in range(n_tasks)]


def learners(args, channels, size):
    torch.manual_seed(0)
    dim = args.width * (size // 16) ** 2
    ref = LEARNERS[args.learner](Conv4(channels, args.width), feature_dim=dim, n_way=args.way,
                                 inner_steps=args.steps, eval_inner_steps=args.eval_steps, inner_lr=0.01,
                                 bn=args.bn, engine="learn2learn")
    vec = copy.deepcopy(ref)
    vec.engine = "vectorised"
    return ref, vec


def train_step_l2l(learner, batch, n_way):
    for task in batch:
        (learner.episode_loss(*task, n_way)["loss"] / len(batch)).backward()


def train_step_vec(learner, batch, n_way):
    learner.meta_batch_loss(batch, n_way)["loss"].backward()


def interleaved(paths, rounds):
    """name -> list of seconds per round; every path once per round, in turn."""
    times = {name: [] for name in paths}
    for fn in paths.values():  # warm-up
        fn()
    for _ in range(rounds):
        for name, fn in paths.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def report(label, unit, count, times, target):
    l2l, vec = times["learn2learn"], times["vectorised"]
    rate_l, rate_v = count / statistics.median(l2l), count / statistics.median(vec)
    ratio = statistics.median(a / b for a, b in zip(l2l, vec))
    print(f"{label:<34} {unit:<12} learn2learn {rate_l:8.3f}   vectorised {rate_v:8.3f}   "
          f"ratio {ratio:5.2f}x  (target >= {target}x)", flush=True)


def bench_setting(args, size: int, shot: int) -> None:
    """Meta-training then evaluation of one image size and shot count, both engines."""
    channels = 1 if size <= 32 else 3
    ref, vec = learners(args, channels, size)
    label = f"{size}x{size}x{channels} {args.way}-way {shot}-shot"
    batch = make_tasks(args.meta_batch, args.way, shot, args.query, channels, size, seed=1)
    # agreement first: one meta-gradient on both engines
    train_step_l2l(ref, batch, args.way)
    train_step_vec(vec, batch, args.way)
    pairs = [(a.grad, b.grad) for a, b in zip(ref.parameters(), vec.parameters()) if a.grad is not None]
    diff = max((a - b).abs().max().item() for a, b in pairs) / max(a.abs().max().item() for a, _ in pairs)
    ref.zero_grad(set_to_none=True)
    vec.zero_grad(set_to_none=True)
    times = interleaved({
        "learn2learn": lambda: [train_step_l2l(ref, batch, args.way) for _ in range(args.train_steps)],
        "vectorised": lambda: [train_step_vec(vec, batch, args.way) for _ in range(args.train_steps)],
    }, args.rounds)
    report(label + " train", "steps/s", args.train_steps, times, 2)
    print(f"{'':<34} max |grad difference| / max |grad| = {diff:.1e} (float32)", flush=True)

    ref.eval()
    vec.eval()
    episodes = make_tasks(args.eval_episodes, args.way, shot, args.query, channels, size, seed=2)
    xs, ys, xq, yq = (torch.stack(parts) for parts in zip(*episodes))
    if ref.uses_features:  # ANIL with running BatchNorm: evaluation adapts the head on cached features
        with torch.no_grad():
            zs, zq = (ref.embed(x.flatten(0, 1)).view(*x.shape[:2], -1) for x in (xs, xq))
        paths = {"learn2learn": lambda: ref.logits_from_features_many(zs, ys, zq, args.way),
                 "vectorised": lambda: vec.logits_from_features_many(zs, ys, zq, args.way, chunk=args.chunk)}
        label += " (cached features)"
    else:
        paths = {"learn2learn": lambda: ref.adapt_many(xs, ys, xq, args.way),  # fit_support / forward per episode
                 "vectorised": lambda: vec.adapt_many(xs, ys, xq, args.way, chunk=args.chunk)}
    acc_l, acc_v = ((paths[k]().argmax(-1) == yq).float().mean(1) for k in ("learn2learn", "vectorised"))
    same = int((acc_l == acc_v).sum())
    times = interleaved(paths, args.rounds)
    report(label + " eval", "episodes/s", args.eval_episodes, times, 5)
    print(f"{'':<34} same accuracy on {same}/{len(acc_l)} episodes", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--learner", default="maml", choices=["maml", "fomaml", "anil", "metasgd"])
    p.add_argument("--bn", default="transductive", choices=["transductive", "running"])
    p.add_argument("--sizes", type=int, nargs="+", default=[28, 84])
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--query", type=int, default=15)
    p.add_argument("--meta-batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=5, help="inner steps in training (MAML on miniImageNet: 5)")
    p.add_argument("--eval-steps", type=int, default=10, help="inner steps at evaluation (MAML: 10)")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--train-steps", type=int, default=1, help="optimiser steps timed per round")
    p.add_argument("--eval-episodes", type=int, default=8, help="test episodes timed per round")
    p.add_argument("--chunk", type=int, default=None, help="episodes per evaluation chunk (default: automatic)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.learner} bn={args.bn}, Conv4 width {args.width}, {args.way}-way, {args.query} queries, "
          f"meta-batch {args.meta_batch}, inner steps {args.steps} (eval {args.eval_steps}), "
          f"{args.threads} thread(s), {args.rounds} interleaved rounds, medians", flush=True)
    for size in args.sizes:
        for shot in args.shots:
            bench_setting(args, size, shot)


if __name__ == "__main__":
    main()

"""`fewshot eval RUN_DIR_OR_CHECKPOINT [options]`."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    e = sub.add_parser("eval", help="evaluate a run folder or checkpoint on test episodes")
    e.add_argument("target", help="run folder or checkpoint file")
    e.add_argument("--split", help="data split (default: the run's test split)")
    e.add_argument("--n-way", type=int)
    e.add_argument("--shots", type=int, nargs="+")
    e.add_argument("--n-query", type=int)
    e.add_argument("--episodes", type=int)
    e.add_argument("--seed", type=int)
    e.add_argument("--untrained", action="store_true", help="same architecture, fresh weights")
    e.add_argument("--no-feature-cache", action="store_true", help="embed every episode's images")
    e.add_argument("--device", default="cpu")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    from ..evaluation.run_eval import evaluate_run

    results = evaluate_run(Path(args.target), split=args.split, n_way=args.n_way, shots=args.shots,
                           n_query=args.n_query, episodes=args.episodes, seed=args.seed,
                           untrained=args.untrained,
                           feature_cache=False if args.no_feature_cache else None,
                           device=args.device, progress=not args.quiet)
    for res in results:
        print(res)
    return 0



"""`fewshot eval RUN_DIR_OR_CHECKPOINT [options]`."""

from __future__ import annotations

import math
from pathlib import Path

from ..transductive import METHODS, NORMS, get_method
from .options import parse_key_values


def add_parser(sub) -> None:
    methods = ", ".join(METHODS)  # the choices are what the registries hold (plug-ins included)
    e = sub.add_parser("eval", help="evaluate a run folder or checkpoint on test episodes")
    e.add_argument("target", help="run folder or checkpoint file")
    e.add_argument("--split", help="data split (default: the run's test split)")
    e.add_argument("--n-way", type=int)
    e.add_argument("--shots", type=int, nargs="+")
    e.add_argument("--n-query", type=int)
    e.add_argument("--episodes", type=int)
    e.add_argument("--seed", type=int)
    e.add_argument("--seeds", type=int, nargs="+", metavar="S",
                   help="evaluate with each seed; results.json also gets the mean over seeds and their spread")
    e.add_argument("--out", metavar="DIR",
                   help="write results.json, eval/ and report.md here instead of the run folder "
                        "(e.g. a read-only run folder)")
    e.add_argument("--untrained", action="store_true", help="same architecture, fresh weights")
    e.add_argument("--drop-small-classes", action="store_true",
                   help="leave out (with a warning) classes with too few images for the episodes")
    e.add_argument("--no-feature-cache", action="store_true", help="embed every episode's images")
    e.add_argument("--data", help="cross-domain: evaluate on this data set instead (e.g. fashion_mnist); "
                   "channels and image size follow the checkpoint")
    e.add_argument("--data-root", help="folder of the evaluated data set (default: its loader's)")
    e.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="loader option of the evaluated data set, repeatable (e.g. split_scheme=lake)")
    e.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N")
    e.add_argument("--quiet", action="store_true")
    t = e.add_argument_group("transductive inference over the run's features")
    t.add_argument("--transductive", metavar="METHOD",
                   help=f"infer with METHOD over cached features, batched over episodes ({methods})")
    t.add_argument("--lambda", dest="lam", type=float, metavar="L",
                   help="Laplacian weight of laplacian-kmeans / laplacian-kmodes / laplacianshot")
    t.add_argument("--tune-lambda", action="store_true",
                   help="choose the Laplacian weight per shot setting on the validation split")
    t.add_argument("--lambda-grid", type=float, nargs="+", metavar="L",
                   help="candidates for --tune-lambda (default 0.1 0.3 0.5 0.7 0.8 1.0 1.2 1.5)")
    t.add_argument("--val-episodes", type=int, default=500, help="validation episodes per candidate")
    t.add_argument("--norm", choices=tuple(NORMS),
                   help="feature normalisation (default with --transductive: the one of the method's "
                        "reference code: l2 for tim, none for pt-map and bd-cspn, otherwise cl2n = "
                        "centre by the training split's mean feature, then L2; episode-cl2n centres "
                        "by each episode's own mean instead, for another domain)")
    t.add_argument("--shift-query", action="store_true",
                   help="shift queries by mean(support) - mean(query) in every episode")
    t.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a method option, e.g. --option steps=100 (repeatable; values read as YAML)")
    t.add_argument("--chunk", type=int, default=200, help="episodes processed together")
    e.set_defaults(func=cmd_eval)


def transductive_spec(args):
    """The TransductiveSpec the arguments ask for, or None for the inductive path."""
    from ..evaluation.transductive import LAMBDA_GRID, TransductiveSpec

    extras = [flag for flag, given in (("--lambda", args.lam is not None), ("--tune-lambda", args.tune_lambda),
                                       ("--norm", args.norm is not None), ("--shift-query", args.shift_query),
                                       ("--option", bool(args.option)),
                                       ("--lambda-grid", args.lambda_grid is not None)) if given]
    if args.transductive is None:
        if extras:
            raise ValueError(f"{', '.join(extras)} only apply with --transductive METHOD")
        return None
    if args.no_feature_cache:
        raise ValueError("--transductive works on cached features; drop --no-feature-cache")
    options = parse_key_values(args.option, "--option", "steps=100")
    if args.lam is not None:
        options["lam"] = args.lam
    for flag, values in (("--lambda", [args.lam]), ("--lambda-grid", args.lambda_grid or [])):
        bad = [v for v in values if v is not None and not math.isfinite(v)]
        if bad:
            raise ValueError(f"{flag} must be a finite number, got {bad[0]}")
    for flag, value in (("--val-episodes", args.val_episodes), ("--chunk", args.chunk)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    return TransductiveSpec(method=args.transductive, options=options,
                            norm=args.norm or get_method(args.transductive).norm,
                            shift=args.shift_query, tune_lambda=args.tune_lambda,
                            lambda_grid=tuple(args.lambda_grid or LAMBDA_GRID),
                            val_episodes=args.val_episodes, chunk=args.chunk)


def cmd_eval(args) -> int:
    from ..evaluation.run_eval import evaluate_run
    from ..reporting import write_report
    from ..runs import ranks
    from ..runs.checkpoint import resolve_checkpoint
    from ..runs.lock import run_lock

    if args.seed is not None and args.seeds:
        raise ValueError("give --seed S or --seeds S1 S2 ..., not both")
    spec = transductive_spec(args)
    _, run_dir = resolve_checkpoint(Path(args.target))
    out = Path(args.out) if args.out else None
    with run_lock(out or run_dir, "fewshot eval", enabled=ranks.is_main()):
        results = evaluate_run(Path(args.target), split=args.split, n_way=args.n_way, shots=args.shots,
                               n_query=args.n_query, episodes=args.episodes, seed=args.seed,
                               untrained=args.untrained,
                               feature_cache=False if args.no_feature_cache else None,
                               device=args.device, progress=not args.quiet, transductive=spec,
                               target_data=_target_data(args), seeds=args.seeds, out_dir=out,
                               drop_small_classes=True if args.drop_small_classes else None)
        if not ranks.is_main():
            return 0
        for res in results:
            ms = 1000 * res.seconds / max(1, res.episodes)
            print(f"{res} [seed {res.seed}, {ms:.2f} ms/episode]")
        for line in seed_lines(results):
            print(line)
        md, _ = write_report([out or run_dir], (out or run_dir) / "report")
        board = add_to_tensorboard(run_dir) if out is None else None
    print(f"results: {(out or run_dir) / 'results.json'}; table: {md}"
          + (f"; TensorBoard: {board}" if board else ""))
    return 0


def add_to_tensorboard(run_dir: Path):
    """A run trained with TensorBoard gets its evaluations there too (hparams and one scalar per
    setting, at the run's last training step), as training's own final test does."""
    import yaml

    from ..reporting import collect_results
    from ..runs.records import read_metrics, tensorboard_results

    board, config = run_dir / "tensorboard", run_dir / "config.yaml"
    if not board.is_dir() or not config.is_file():
        return None
    cfg = yaml.safe_load(config.read_text()) or {}
    if not (cfg.get("train") or {}).get("tensorboard", True):
        return None
    try:
        step = max((int(r.get("episode", 0)) for r in read_metrics(run_dir)), default=0)
    except (OSError, ValueError):  # no or damaged metrics log: the results still go in, at step 0
        step = 0
    return tensorboard_results(board, cfg, collect_results([run_dir]), step)


def seed_lines(results) -> list:
    """``mean over seeds`` lines: per shot setting (and method) with two or more seeds, the mean
    accuracy, the spread across seeds and each seed's 95% CI, in percent."""
    groups: dict = {}
    for res in results:
        groups.setdefault((res.split, res.n_way, res.k_shot, res.method), []).append(res)
    lines = []
    for (split, n_way, k, method), group in groups.items():
        if len(group) < 2:
            continue
        acc = [100 * r.mean for r in group]
        mean = sum(acc) / len(acc)
        sd = (sum((a - mean) ** 2 for a in acc) / (len(acc) - 1)) ** 0.5
        per_seed = ", ".join(f"seed {r.seed}: {a:.2f} +- {100 * r.ci95:.2f}" for r, a in zip(group, acc))
        lines.append(f"{split} {n_way}-way {k}-shot ({method}) mean over {len(group)} seeds: {mean:.2f}%, "
                     f"sd across seeds {sd:.2f} ({per_seed})")
    return lines


def _target_data(args):
    """``--data`` / ``--data-root`` / ``--data-option`` -> ``evaluate_run(target_data=...)``."""
    if not (args.data or args.data_root or args.data_option):
        return None
    return {"name": args.data, "root": args.data_root, "split": args.split,
            "options": parse_key_values(args.data_option, "--data-option", "split_scheme=lake")}

"""`fewshot plot RUN_DIR [RUN_DIR ...]`: learning curves, accuracy against shots and ways, and a
2-D embedding of novel-class features, as PNG files."""

from __future__ import annotations

from pathlib import Path

KINDS = ("curves", "shots", "ways", "embedding")


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="PNG figures of one or several runs")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (curves share axes)")
    p.add_argument("--out", help="output folder (default: RUN_DIR/plots for one run, ./plots for several)")
    p.add_argument("--what", nargs="+", choices=KINDS, default=list(KINDS), help="figures to draw")
    p.add_argument("--labels", nargs="+", help="legend names of the runs (default: folder names)")
    p.add_argument("--method", choices=("pca", "tsne"), default="pca", help="embedding projection")
    p.add_argument("--classes", type=int, default=5, help="classes in the embedding plot")
    p.add_argument("--per-class", type=int, default=30, help="images per class in the embedding plot")
    p.add_argument("--episode", action="store_true", help="embed one episode (support as stars)")
    p.add_argument("--split", help="split for the embedding (default: the run's test split)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_plot)


def cmd_plot(args) -> int:
    from ..reporting import collect_results, plot_accuracy_sweep, plot_learning_curves, plot_run_embedding

    runs = [Path(r) for r in args.runs]
    for run in runs:
        if not run.is_dir():
            raise FileNotFoundError(f"run folder {str(run)!r} does not exist")
    if args.labels and len(args.labels) != len(runs):
        raise ValueError(f"--labels: {len(args.labels)} labels for {len(runs)} runs (one per RUN_DIR, in order)")
    names = dict(zip([run.name for run in runs], args.labels)) if args.labels else {}  # by run folder name
    out = Path(args.out) if args.out else (runs[0] / "plots" if len(runs) == 1 else Path("plots"))
    written, notes = [], []
    if "curves" in args.what:
        written.append(plot_learning_curves(runs, out / "learning_curves.png", args.labels))
    sweeps = [k for k in ("shots", "ways") if k in args.what]
    if sweeps:
        with_results = [r for r in runs if (r / "results.json").is_file()]
        rows = collect_results(with_results)

        for kind, key, flag in (("shots", "k_shot", "--shots 1 5 10"), ("ways", "n_way", "--n-way 10")):
            if kind not in sweeps:
                continue
            if len({r[key] for r in rows}) < 2:
                notes.append(f"accuracy against {kind} skipped: the runs' results.json hold fewer than two "
                             f"{kind} settings (add some with `fewshot eval RUN_DIR {flag}`)")
                continue
            written.append(plot_accuracy_sweep(rows, key, out / f"accuracy_vs_{kind}.png", names))
    if "embedding" in args.what:
        for run in runs:
            name = f"embedding_{args.method}{'_episode' if args.episode else ''}"
            name += f"_{run.name}.png" if len(runs) > 1 else ".png"
            written.append(plot_run_embedding(run, out / name, split=args.split, n_classes=args.classes,
                                              per_class=args.per_class, episode=args.episode,
                                              method=args.method, seed=args.seed))
    for note in notes:
        print(f"note: {note}")
    for path in written:
        print(f"wrote {path}")
    return 0

"""`fewshot benchmark RUN [RUN ...] [--grid FILE] [--data NAME[:SPLIT] ...]`: cross-domain tables.

Evaluates every run on every data set x way x shot and writes ``table.md`` and ``table.csv``.
A grid file (``configs/benchmarks/*.yaml``) holds a published protocol::

    ways: [5]
    shots: [5, 20, 50]
    n_query: 15
    episodes: 600
    datasets:
      - {name: eurosat, root: ~/data/EuroSAT}
      - {name: own}            # each run's own data set and test split

Command-line flags override the grid's values; ``--data-root NAME=PATH`` and
``--data-option NAME.KEY=VALUE`` set a data set's folder and loader options.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any, Dict, List

import yaml

from ..config import safe_load_yaml
from .options import parse_key_values

GRID_KEYS = {"ways", "shots", "n_query", "episodes", "seed", "datasets"}
TARGET_KEYS = {"name", "split", "root", "options", "label"}


def add_parser(sub) -> None:
    b = sub.add_parser("benchmark", help="evaluate runs over data sets x ways x shots; Markdown + CSV table")
    b.add_argument("runs", nargs="+", help="run folders or checkpoint files")
    b.add_argument("--grid", help="YAML protocol (configs/benchmarks/*.yaml)")
    b.add_argument("--data", action="append", default=[], metavar="NAME[:SPLIT]",
                   help="data set to evaluate on, repeatable; 'own' = each run's own test split")
    b.add_argument("--data-root", action="append", default=[], metavar="NAME=PATH")
    b.add_argument("--data-option", action="append", default=[], metavar="NAME.KEY=VALUE")
    b.add_argument("--ways", type=int, nargs="+")
    b.add_argument("--shots", type=int, nargs="+")
    b.add_argument("--n-query", type=int)
    b.add_argument("--episodes", type=int)
    b.add_argument("--seed", type=int)
    b.add_argument("--untrained", action="store_true", help="add rows for fresh weights (the floor)")
    b.add_argument("--out", help="output folder (default runs/benchmark-<time>)")
    b.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=cmd_benchmark)


def read_grid(path) -> Dict[str, Any]:
    """A grid file, checked: known keys only, each data set a mapping with a ``name``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"benchmark grid {str(path)!r} does not exist; see configs/benchmarks/")
    try:
        grid = safe_load_yaml(path.read_text(), f"benchmark grid {str(path)!r}") or {}
    except yaml.YAMLError as err:
        raise ValueError(f"benchmark grid {str(path)!r} is not valid YAML: {err}") from None
    if not isinstance(grid, dict) or set(grid) - GRID_KEYS:
        raise ValueError(f"{path}: a grid is a mapping with keys {sorted(GRID_KEYS)}, got "
                         f"{sorted(grid) if isinstance(grid, dict) else grid!r}")
    for t in grid.get("datasets", []):
        if not isinstance(t, dict) or "name" not in t or set(t) - TARGET_KEYS:
            raise ValueError(f"{path}: each data set needs a name and only keys {sorted(TARGET_KEYS)}, got {t!r}")
    return grid


def _targets(args, grid) -> List:
    from ..evaluation.benchmark import Target

    targets = [Target(**{**t, "options": dict(t.get("options") or {})}) for t in grid.get("datasets", [])]
    for spec in args.data:
        name, _, split = spec.partition(":")
        targets.append(Target(name=name, split=split or None))
    if not targets:
        targets = [Target(name="own")]
    roots = dict(pair.split("=", 1) for pair in args.data_root if "=" in pair)
    bad = [p for p in args.data_root if "=" not in p]
    if bad:
        raise ValueError(f"--data-root {bad[0]!r} must look like NAME=PATH")
    for t in targets:
        t.root = roots.get(t.name, t.root)
        if t.root is not None:
            t.root = str(Path(t.root).expanduser())
        prefix = f"{t.name}."
        t.options.update(parse_key_values([o[len(prefix):] for o in args.data_option if o.startswith(prefix)],
                                          "--data-option", f"{t.name}.crop=center"))
    return targets


def command_line(args) -> str:
    """The command that reproduces this table, rebuilt from the parsed arguments."""
    parts = ["fewshot", "benchmark", *args.runs]
    for flag, value in (("--grid", args.grid), ("--ways", args.ways), ("--shots", args.shots),
                        ("--n-query", args.n_query), ("--episodes", args.episodes), ("--seed", args.seed)):
        if value is not None:
            parts += [flag, *map(str, value if isinstance(value, list) else [value])]
    for flag, values in (("--data", args.data), ("--data-root", args.data_root),
                         ("--data-option", args.data_option)):
        for v in values:
            parts += [flag, v]
    if args.untrained:
        parts.append("--untrained")
    return " ".join(shlex.quote(str(p)) for p in parts)


def cmd_benchmark(args) -> int:
    from ..evaluation.benchmark import evaluate_grid, markdown_table, write_tables

    grid = read_grid(args.grid) if args.grid else {}
    pick = lambda flag, key, default: flag if flag is not None else grid.get(key, default)  # noqa: E731
    rows = evaluate_grid(args.runs, _targets(args, grid), ways=pick(args.ways, "ways", [5]),
                         shots=pick(args.shots, "shots", [1, 5]), n_query=pick(args.n_query, "n_query", 15),
                         episodes=pick(args.episodes, "episodes", 600), seed=pick(args.seed, "seed", 1234),
                         untrained=args.untrained, device=args.device, progress=not args.quiet)
    if not rows:
        raise ValueError("no results: every requested way exceeds the class count of every data set")
    out = Path(args.out or f"runs/benchmark-{time.strftime('%Y%m%d-%H%M%S')}")
    paths = write_tables(rows, out, command_line(args))
    print(markdown_table(rows))
    print(f"wrote {paths['md']} and {paths['csv']}")
    return 0

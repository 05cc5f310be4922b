"""`fewshot report RUN_DIR [RUN_DIR ...]`: every evaluation as Markdown and CSV, long and pivoted
(rows = runs / weights / methods, columns = data set x ways x shots, with image size, seed and
training budget)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="Markdown + CSV tables of the runs' evaluation results")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders with results.json")
    p.add_argument("--out", help="output path without extension (default: RUN_DIR/report for one "
                                 "run, ./report for several); writes OUT.md, OUT.csv and OUT_pivot.csv")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from ..reporting import collect_results, markdown_table, write_report
    from ..reporting.report import pivot, pivot_markdown, run_settings

    runs = [Path(r) for r in args.runs]
    out = Path(args.out) if args.out else (runs[0] / "report" if len(runs) == 1 else Path("report"))
    md, table = write_report(runs, out)
    rows = collect_results(runs)
    print(pivot_markdown(*pivot(rows, {r.name: run_settings(r) for r in runs})))  # by run, then every row
    print(markdown_table(rows), end="")
    print(f"wrote {md}, {table} and {out.with_name(out.name + '_pivot.csv')}")
    return 0

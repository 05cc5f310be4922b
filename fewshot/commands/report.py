"""`fewshot report RUN_DIR [RUN_DIR ...]`: a Markdown and a CSV table of every evaluation."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="Markdown + CSV table of the runs' evaluation results")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders with results.json")
    p.add_argument("--out", help="output path without extension (default: RUN_DIR/report for one "
                                 "run, ./report for several); writes OUT.md and OUT.csv")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from ..reporting import collect_results, markdown_table, write_report

    runs = [Path(r) for r in args.runs]
    out = Path(args.out) if args.out else (runs[0] / "report" if len(runs) == 1 else Path("report"))
    md, table = write_report(runs, out)
    print(markdown_table(collect_results(runs)), end="")
    print(f"wrote {md} and {table}")
    return 0

"""Results tables: every evaluation of one or several runs, as Markdown and CSV.

The numbers are those of each run's ``results.json`` (written by ``fewshot eval`` and at the end of
``fewshot train``), unchanged: accuracy and its 95% confidence interval in percent.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from ..atomic import atomic_write_text
from ..runs.records import run_commit

# (key in a row, Markdown header)
COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("dataset", "data set"), ("split", "split"), ("n_way", "ways"), ("k_shot", "shots"),
    ("n_query", "queries"), ("episodes", "episodes"), ("accuracy", "accuracy (%)"),
    ("ci95", "95% CI (±)"), ("seed", "seed"), ("seed_std", "sd over seeds"),
    ("learner", "learner"), ("backbone", "backbone"),
    ("method", "transductive method"), ("model", "weights"), ("run", "run"), ("commit", "commit"),
)
PathLike = Union[str, Path]


def collect_results(runs: Sequence[PathLike]) -> List[Dict]:
    """Rows of every run's ``results.json``, each with ``run`` (folder name) and ``commit``
    (the row's own, else the commit recorded in the run's ``run.json``).

    Raises:
        FileNotFoundError: a run folder without ``results.json`` (evaluate it first).
    """
    rows: List[Dict] = []
    for run in runs:
        run = Path(run)
        path = run / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"{str(run)!r} has no results.json; evaluate it first with "
                                    f"`fewshot eval {run}`")
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{str(path)!r} is not valid JSON: {err}") from None
        commit = run_commit(run)
        for r in results:
            rows.append({**r, "run": run.name, "commit": r.get("commit") or commit})
    return sorted(rows, key=lambda r: (r["run"], r["dataset"], r["split"], r["model"],
                                       r.get("method") or "", r["n_way"], r["k_shot"],
                                       r.get("seed") is None, r.get("seed") or 0))


VARYING = {"n_way": "ways", "k_shot": "shots", "n_query": "queries"}  # fixed column -> distribution key


def _cell(row: Dict, key: str) -> str:
    value = row.get(key, "")
    spread = row.get(VARYING.get(key, ""))
    if value == 0 and isinstance(spread, dict):  # varies between episodes: its range and mean
        return f"{spread['min']}-{spread['max']} (mean {spread['mean']:.1f})"
    if key in ("accuracy", "ci95") and isinstance(value, (int, float)):
        return f"{value:.2f}"
    if key == "seed" and row.get("seeds"):  # the mean over several seeds
        return "mean of " + ",".join(map(str, row["seeds"]))
    if key == "seed_std" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    if key == "method":
        return str(value or "inductive")
    return str(value)


def markdown_table(rows: Sequence[Dict]) -> str:
    """A GitHub-flavoured Markdown table (accuracy and CI rounded to 2 decimals)."""
    head = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    rule = "|" + "|".join("---:" if k in ("n_way", "k_shot", "n_query", "episodes", "accuracy", "ci95")
                          else "---" for k, _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_cell(r, k).replace("|", "\\|") for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body]) + "\n"


def csv_table(rows: Sequence[Dict]) -> str:
    """CSV with the full-precision numbers of ``results.json``; columns as :data:`COLUMNS` keys."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([k for k, _ in COLUMNS])
    for r in rows:
        w.writerow([r.get(k, "") for k, _ in COLUMNS])
    return buf.getvalue()


def write_report(runs: Sequence[PathLike], out_prefix: PathLike) -> Tuple[Path, Path]:
    """Write ``<out_prefix>.md`` and ``<out_prefix>.csv``; returns both paths."""
    rows = collect_results(runs)
    prefix = Path(out_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    md, table = prefix.with_name(prefix.name + ".md"), prefix.with_name(prefix.name + ".csv")
    atomic_write_text(md, f"# Evaluation results\n\nAccuracy and 95% confidence interval in percent, "
                          f"from the runs' results.json; a row over several seeds gives their mean, the "
                          f"mean per-seed CI and the standard deviation across seeds.\n\n{markdown_table(rows)}")
    atomic_write_text(table, csv_table(rows))
    return md, table

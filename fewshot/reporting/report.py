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


# ---------------------------------------------------------------- the pivoted view
#: the columns a pivoted row carries besides its cells: (key, header)
RUN_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("run", "run"), ("learner", "learner"), ("backbone", "backbone"), ("model", "weights"),
    ("method", "method"), ("image_size", "image size"), ("seed", "seed"), ("budget", "training budget"),
)


def run_settings(run: PathLike) -> Dict[str, object]:
    """Image size, seed and training budget of a run, from its ``config.yaml`` (blank when the
    folder has none). Budget: ``train.episodes`` episodes, or steps for standard pre-training."""
    import yaml

    path = Path(run) / "config.yaml"
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {"image_size": "", "seed": "", "budget": ""}
    data, train, model = cfg.get("data", {}), cfg.get("train", {}), cfg.get("model", {})
    unit = "steps" if model.get("learner") == "pretrain" else "episodes"
    episodes = train.get("episodes")
    budget = f"{episodes:,} {unit}" if isinstance(episodes, int) else ""
    if isinstance(episodes, int) and unit == "episodes" and int(train.get("meta_batch", 1) or 1) > 1:
        budget += f" (meta-batch {train['meta_batch']})"
    if unit == "steps" and cfg.get("pretrain", {}).get("batch_size"):
        budget += f" of {cfg['pretrain']['batch_size']} images"
    return {"image_size": data.get("image_size", ""), "seed": train.get("seed", ""), "budget": budget}


def _column_key(r: Dict) -> Tuple:
    return (r["dataset"], r["split"], r["n_way"], r["k_shot"], r.get("n_query", ""), r.get("episodes", ""))


def pivot(rows: Sequence[Dict], settings: Dict[str, Dict[str, object]]) -> Tuple[List[str], List[Dict]]:
    """Rows = run x weights x method, columns = data set / split x ways x shots.

    Args:
        rows: as :func:`collect_results` gives them.
        settings: :func:`run_settings` of each run (by run folder name).

    Returns:
        ``(column labels, rows)``: each row holds the :data:`RUN_COLUMNS` keys and, under each
        column label, ``(accuracy, ci95)`` or None. A label names queries and episodes only
        where settings that differ in them alone would share a column.
    """
    keys = sorted({_column_key(r) for r in rows},
                  key=lambda k: tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in k))
    clash = {k[:4] for k in keys if sum(1 for o in keys if o[:4] == k[:4]) > 1}

    def label(k: Tuple) -> str:
        name = f"{k[0]}/{k[1]} {k[2]}w{k[3]}s" if k[2] else f"{k[0]}/{k[1]} variable"
        return name + (f" (q{k[4]}, {k[5]} ep.)" if k[:4] in clash else "")

    labels = {k: label(k) for k in keys}
    table: Dict[Tuple, Dict] = {}
    for r in rows:
        ident = (r["run"], r.get("learner", ""), r.get("backbone", ""), r["model"], r.get("method") or "inductive")
        line = table.setdefault(ident, {**dict(zip(("run", "learner", "backbone", "model", "method"), ident)),
                                        **settings.get(r["run"], {})})
        line[labels[_column_key(r)]] = (r["accuracy"], r["ci95"])
    return [labels[k] for k in keys], list(table.values())


def pivot_markdown(columns: Sequence[str], lines: Sequence[Dict]) -> str:
    """The pivoted view as a Markdown table: accuracy +- 95% CI (percent) per cell."""
    head = "| " + " | ".join([h for _, h in RUN_COLUMNS] + list(columns)) + " |"
    rule = "|" + "|".join(["---"] * len(RUN_COLUMNS) + ["---:"] * len(columns)) + "|"
    body = []
    for line in lines:
        cells = [str(line.get(k, "")) for k, _ in RUN_COLUMNS]
        cells += [f"{line[c][0]:.2f} ± {line[c][1]:.2f}" if line.get(c) else "" for c in columns]
        body.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join([head, rule, *body]) + "\n"


def pivot_csv(columns: Sequence[str], lines: Sequence[Dict]) -> str:
    """The pivoted view as CSV: two columns per setting, ``<label> acc`` and ``<label> ci95``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([k for k, _ in RUN_COLUMNS] + [f"{c} {part}" for c in columns for part in ("acc", "ci95")])
    for line in lines:
        w.writerow([line.get(k, "") for k, _ in RUN_COLUMNS]
                   + [v for c in columns for v in (line[c] if line.get(c) else ("", ""))])
    return buf.getvalue()


def write_report(runs: Sequence[PathLike], out_prefix: PathLike) -> Tuple[Path, Path]:
    """Write ``<out_prefix>.md`` (the pivoted view, then the long table), ``<out_prefix>.csv``
    (the long table) and ``<out_prefix>_pivot.csv``; returns the first two paths."""
    rows = collect_results(runs)
    columns, lines = pivot(rows, {Path(r).name: run_settings(r) for r in runs})
    prefix = Path(out_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    md, table = prefix.with_name(prefix.name + ".md"), prefix.with_name(prefix.name + ".csv")
    atomic_write_text(md, f"# Evaluation results\n\nAccuracy and 95% confidence interval in percent, "
                          f"from the runs' results.json; a row over several seeds gives their mean, the mean "
                          f"per-seed CI and the standard deviation across seeds.\n\n## By run\n\nOne row per "
                          f"run, weights and method; one column per data set / split, ways (w) and shots (s)."
                          f"\n\n{pivot_markdown(columns, lines)}\n## Every evaluation\n\n{markdown_table(rows)}")
    atomic_write_text(table, csv_table(rows))
    atomic_write_text(prefix.with_name(prefix.name + "_pivot.csv"), pivot_csv(columns, lines))
    return md, table

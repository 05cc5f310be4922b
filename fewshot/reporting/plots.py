"""PNG figures of runs: learning curves, accuracy against shots / ways, 2-D feature embeddings.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas (no pyplot, no global
backend switch), at a fixed size in pixels: ``figsize * DPI``, never cropped.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..runs.records import read_metrics, series

DPI = 100
CURVES_SIZE = (13.0, 3.8)  # inches -> 1300 x 380 px
SWEEP_SIZE = (6.0, 4.0)  # 600 x 400 px
EMBEDDING_SIZE = (6.0, 5.5)  # 600 x 550 px
PathLike = Union[str, Path]


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out: PathLike) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, format="png")
    return out


def plot_learning_curves(runs: Sequence[PathLike], out: PathLike,
                         labels: Optional[Sequence[str]] = None) -> Path:
    """Training loss, training accuracy and validation accuracy (95% CI band) of one or several
    runs, one colour per run, on shared episode axes.

    Args:
        runs: run folders (or ``metrics.jsonl`` files).
        out: the PNG to write.
        labels: legend entries (default: run folder names).
    """
    labels = list(labels) if labels else [Path(r).name if Path(r).is_dir() else Path(r).parent.name
                                         for r in runs]
    if len(labels) != len(runs):
        raise ValueError(f"{len(labels)} labels for {len(runs)} runs")
    fig = _figure(CURVES_SIZE)
    ax_loss, ax_train, ax_val = fig.subplots(1, 3, sharex=True)
    for i, (run, label) in enumerate(zip(runs, labels)):
        rows = read_metrics(run)
        colour = f"C{i % 10}"
        ep, loss = series(rows, "train", "loss")
        dots = "o" if len(ep) <= 30 else None  # a short run's few rows stay visible
        ax_loss.plot(ep, loss, color=colour, marker=dots, ms=3, label=label)
        terms = sorted({k for r in rows if r.get("kind") == "train" for k in r}
                       - {"kind", "episode", "loss", "acc", "lr", "episodes_per_s"})
        if len(terms) > 1:  # a multi-term loss: each term dashed (one term would repeat the loss)
            for j, term in enumerate(terms):
                ax_loss.plot(*series(rows, "train", term), color=colour, ls="--", lw=0.8,
                             alpha=0.5 + 0.5 * j / len(terms), label=f"{label}: {term}")
        ep, acc = series(rows, "train", "acc")
        ax_train.plot(ep, 100 * acc, color=colour, marker=dots, ms=3, label=label)
        ep, acc = series(rows, "val", "val_acc")
        _, ci = series(rows, "val", "val_ci95")
        if len(ep):
            ax_val.plot(ep, 100 * acc, color=colour, marker="o", ms=3, label=label)
            ax_val.fill_between(ep, 100 * (acc - ci), 100 * (acc + ci), color=colour, alpha=0.2, lw=0)
    for ax, title in ((ax_loss, "training loss"), (ax_train, "training accuracy (%)"),
                      (ax_val, "validation accuracy (%, 95% CI)")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("episode")
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=8, loc="upper right")
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.14, top=0.92, wspace=0.18)  # tight_layout: slow
    return _save(fig, out)


def plot_accuracy_sweep(rows: List[Dict], x: str, out: PathLike) -> Path:
    """Accuracy (%) with 95% CI bands against ``x`` ("k_shot" or "n_way"), one line per run,
    model (best / last / untrained), evaluation method and value of the other setting.

    Args:
        rows: evaluation rows as in ``results.json`` (accuracy and ci95 in percent), each with a
            ``run`` entry (see :func:`fewshot.reporting.report.collect_results`).
    """
    if x not in ("k_shot", "n_way"):
        raise ValueError(f"x must be 'k_shot' or 'n_way', got {x!r}")
    other = "n_way" if x == "k_shot" else "k_shot"
    lines: Dict[tuple, List[Dict]] = defaultdict(list)
    for r in rows:
        lines[(r.get("run", ""), r["model"], r.get("method", "inductive"), r[other], r["split"])].append(r)
    fig = _figure(SWEEP_SIZE)
    ax = fig.subplots()
    for i, (key, group) in enumerate(sorted(lines.items(), key=lambda kv: str(kv[0]))):
        group = sorted(group, key=lambda r: r[x])
        xs = np.array([r[x] for r in group], dtype=float)
        acc = np.array([r["accuracy"] for r in group], dtype=float)
        ci = np.array([r["ci95"] for r in group], dtype=float)
        run, model, method, value, split = key
        tag = f"{value}-way" if other == "n_way" else f"{value}-shot"
        label = " ".join(s for s in (run, model, method if method != "inductive" else "", tag) if s)
        ax.errorbar(xs, acc, yerr=ci, marker="o", capsize=3, color=f"C{i % 10}", label=label)
        ax.fill_between(xs, acc - ci, acc + ci, color=f"C{i % 10}", alpha=0.2, lw=0)
    ax.set_xlabel("shots per class" if x == "k_shot" else "ways (classes per episode)")
    ax.set_ylabel("accuracy (%, 95% CI)")
    ax.set_title(f"accuracy against {'shots' if x == 'k_shot' else 'ways'}", fontsize=10)
    values = sorted({r[x] for r in rows})
    ax.set_xticks(values)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.92)
    return _save(fig, out)


def plot_embedding(points: np.ndarray, labels: np.ndarray, out: PathLike, class_names: Sequence[str],
                   title: str, is_support: Optional[np.ndarray] = None) -> Path:
    """Scatter of 2-D points coloured by class; support points (if marked) drawn as stars.

    Args:
        points: (n, 2) projected features.
        labels: (n,) class positions 0..C-1, indexing ``class_names``.
        is_support: (n,) bool, for an episode's support / query split.
    """
    fig = _figure(EMBEDDING_SIZE)
    ax = fig.subplots()
    support = np.zeros(len(points), bool) if is_support is None else np.asarray(is_support, bool)
    for c, name in enumerate(class_names):
        colour = f"C{c % 10}"
        q = (labels == c) & ~support
        ax.scatter(points[q, 0], points[q, 1], s=14, color=colour, alpha=0.75, label=str(name))
        s = (labels == c) & support
        if s.any():
            ax.scatter(points[s, 0], points[s, 1], s=140, marker="*", color=colour, edgecolors="black",
                       linewidths=0.6)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(class_names) <= 20:
        ax.legend(fontsize=7, markerscale=1.2, loc="best")
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.03, top=0.93)
    return _save(fig, out)

"""PNG figures of runs: learning curves, accuracy against shots / ways, 2-D feature embeddings.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas (no pyplot, no global
backend switch), at a fixed size in pixels: ``figsize * DPI``, never cropped.
"""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..runs.records import read_metrics, series

DPI = 100
CURVES_SIZE = (13.0, 3.8)  # inches -> 1300 x 380 px
SWEEP_SIZE = (6.4, 4.0)  # 640 x 400 px: one data set's panel and a short legend beside it
SWEEP_LEGEND = 1.9  # inches of SWEEP_SIZE's width kept for the legend
FACET_WIDTH = 3.6  # inches per further data set
EMBEDDING_SIZE = (6.0, 5.5)  # 600 x 550 px
STUDY_PANEL = (4.4, 3.4)  # inches per panel of a study's validation curves
STUDY_COLUMNS = 3  # panels per row
PathLike = Union[str, Path]


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out: PathLike) -> Path:
    """Write ``fig`` to the PNG ``out`` atomically: a kill or a full disk leaves the old file (or
    none), never a torn one."""
    from ..atomic import atomic_write

    return atomic_write(out, lambda f: fig.savefig(f, dpi=DPI, format="png"))


def x_unit(run: PathLike) -> str:
    """``"step"`` for a run of a learner that trains on batches (standard pre-training, whose
    ``train.episodes`` counts optimiser steps), else ``"episode"``; read from its config.yaml."""
    import yaml

    from ..learners import LEARNERS

    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    try:
        learner = (yaml.safe_load((folder / "config.yaml").read_text()) or {}).get("model", {}).get("learner")
    except (OSError, yaml.YAMLError, AttributeError):
        return "episode"
    if learner in LEARNERS and LEARNERS.info(learner).get("training") == "batches":
        return "step"
    return "episode"


def plot_learning_curves(runs: Sequence[PathLike], out: PathLike,
                         labels: Optional[Sequence[str]] = None) -> Path:
    """Training loss, training accuracy and validation accuracy (95% CI band) of one or several
    runs, one colour per run, on shared axes of episodes (optimiser steps for pre-training).

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
    units = sorted({x_unit(r) for r in runs})
    xlabel = " / ".join(units) + (" (pre-training: optimiser steps)" if units == ["episode", "step"] else "")
    for ax, title in ((ax_loss, "training loss"), (ax_train, "training accuracy (%)"),
                      (ax_val, "validation accuracy (%, 95% CI)")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=8, loc="upper right")
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.14, top=0.92, wspace=0.18)  # tight_layout: slow
    return _save(fig, out)


def last_third_start(n: int) -> int:
    """Index of the first of the last third of ``n`` validations (``n // 3`` of them, at least
    one): the window ``scripts/comparelib.curve_state`` compares with the best before it."""
    return n - max(1, n // 3)


def mean_curve(curves: Sequence[Sequence[Sequence[float]]]) -> tuple:
    """The seeds' mean validation curve: ``(episodes, accuracies)`` at the episodes every curve
    has (a curve is ``[(episode, accuracy, ci95), ...]``, as ``train.json`` records it)."""
    if not curves:
        return np.zeros(0), np.zeros(0)
    common = set.intersection(*({c[0] for c in curve} for curve in curves))
    episodes = sorted(common)
    by_episode = [{c[0]: c[1] for c in curve} for curve in curves]
    return (np.array(episodes, dtype=float),
            np.array([np.mean([b[e] for b in by_episode]) for e in episodes], dtype=float))


def plot_validation_curves(panels: Dict[str, Dict[str, Sequence]], out: PathLike, title: str = "",
                           xlabel: str = "training episode") -> Path:
    """A study's validation curves, so a reader can see whether training had flattened: one panel
    per ``panels`` key (a shot, a trained model), one colour per method, each seed a thin line and
    the mean over seeds a thick one with markers. The shaded span is the last third of the
    validations (:func:`last_third_start`), the part that ``scripts/comparelib.curve_state``
    compares with the best before it to call a curve "still rising".

    Args:
        panels: panel title -> method label -> the seeds' curves (``[(episode, accuracy, ci95),
            ...]``, accuracy in [0, 1]).
        out: the PNG to write (atomically).
        title: above the panels, wrapped to the figure's width.
        xlabel: of every panel.
    """
    if not panels:
        raise ValueError("no validation curves to plot")
    labels = list(dict.fromkeys(label for methods in panels.values() for label in methods))
    colours = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    cols = min(STUDY_COLUMNS, len(panels))
    rows = -(-len(panels) // cols)
    fig = _figure((STUDY_PANEL[0] * cols, STUDY_PANEL[1] * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax, (name, methods) in zip(axes, panels.items()):
        shaded = False
        for label, curves in methods.items():
            curves = [c for c in curves if c]
            for curve in curves:
                ax.plot([c[0] for c in curve], [100 * c[1] for c in curve], color=colours[label], lw=0.8,
                        alpha=0.35)
            ep, acc = mean_curve(curves)
            if len(ep):
                ax.plot(ep, 100 * acc, color=colours[label], lw=2, marker="o", ms=3,
                        label=f"{label} ({len(curves)} seed{'s' if len(curves) != 1 else ''})")
            if curves and not shaded and len(curves[0]) >= 3:  # the window curve_state compares
                n = len(curves[0])
                first = curves[0][last_third_start(n)][0]
                ax.axvspan(first, curves[0][-1][0], color="0.9", zorder=0, lw=0)
                shaded = True
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    width, height = fig.get_size_inches()
    lines = textwrap.wrap(title, int(width * DPI * 0.95 / 6.4)) if title else []  # ~6.4 px a character
    if lines:
        fig.suptitle("\n".join(lines), fontsize=9)
    top = (0.35 + 0.17 * len(lines)) / height
    fig.subplots_adjust(left=0.65 / width, right=1 - 0.15 / width, bottom=0.5 / height, top=1 - top,
                        wspace=0.3, hspace=0.45)
    return _save(fig, out)


def _legend_inches(labels: Sequence[str]) -> float:
    """Width kept right of the axes for a legend of ``labels`` (fontsize 7)."""
    return min(4.5, 0.55 + 0.058 * max((len(t) for t in labels), default=0))


def sweep_size(n_facets: int, labels: Sequence[str]) -> tuple:
    """Figure inches of an accuracy sweep: ``SWEEP_SIZE`` for one data set and a short legend;
    one more ``FACET_WIDTH`` per further data set, wider for long legend entries."""
    extra = max(0.0, _legend_inches(labels) - SWEEP_LEGEND)
    return (SWEEP_SIZE[0] + (n_facets - 1) * FACET_WIDTH + extra, SWEEP_SIZE[1])


def plot_accuracy_sweep(rows: List[Dict], x: str, out: PathLike,
                        labels: Optional[Dict[str, str]] = None) -> Path:
    """Write :func:`sweep_figure` to the PNG ``out``."""
    return _save(sweep_figure(rows, x, labels), out)


def sweep_figure(rows: List[Dict], x: str, labels: Optional[Dict[str, str]] = None):
    """Accuracy (%) with 95% CI bands against ``x`` ("k_shot" or "n_way"): one panel per data set
    and split (cross-domain evaluations side by side, shared accuracy axis), one colour per run,
    weights (best / last / untrained), evaluation method and value of the other setting, the
    same colour in every panel; the legend sits right of the panels, off the data.

    Rows that differ only in their number of episodes or queries (e.g. 200- and 600-episode
    evaluations of the same setting) are separate lines, named by their episodes and queries,
    never joined into one.

    Args:
        rows: evaluation rows as in ``results.json`` (accuracy and ci95 in percent), each with a
            ``run`` entry (see :func:`fewshot.reporting.report.collect_results`).
        labels: legend names of runs, by run folder name (default: the names).
    """
    if x not in ("k_shot", "n_way"):
        raise ValueError(f"x must be 'k_shot' or 'n_way', got {x!r}")
    if not rows:
        raise ValueError("no evaluation rows to plot")
    labels = dict(labels or {})
    other = "n_way" if x == "k_shot" else "k_shot"
    facets = sorted({(r.get("dataset", "?"), r["split"]) for r in rows})
    series_of: Dict[tuple, Dict[tuple, List[Dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        ident = (r.get("run", ""), r["model"], r.get("method") or "inductive", r[other],
                 r.get("n_query", ""), r.get("episodes", ""))
        series_of[ident][(r.get("dataset", "?"), r["split"])].append(r)
    idents = sorted(series_of, key=lambda k: tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))
                                                   for v in k))
    # name a line by what tells it apart: parts shared by every line go to the title
    parts = {
        "run": lambda k: labels.get(k[0], k[0]),
        "model": lambda k: k[1],
        "method": lambda k: k[2],
        "other": lambda k: f"{k[3]}-way" if other == "n_way" else f"{k[3]}-shot",
        "queries": lambda k: f"{k[4]} queries",
        "episodes": lambda k: f"{k[5]} episodes",
    }
    varying = [name for name, f in parts.items() if len({f(k) for k in idents}) > 1]
    shared = [parts[name](idents[0]) for name in parts if name not in varying and name != "run"]
    if "run" not in varying and "run" in parts:
        shared.insert(0, parts["run"](idents[0]))
    names = [", ".join(parts[n](k) for n in varying) or parts["run"](k) for k in idents]
    fig = _figure(sweep_size(len(facets), names))
    axes = np.atleast_1d(fig.subplots(1, len(facets), sharey=True, squeeze=False)[0])
    # one colour per run / weights / method / other setting, the same in every panel; a line
    # style per number of episodes and queries (the most common one solid)
    colours = {key: f"C{i % 10}" for i, key in enumerate(dict.fromkeys(k[:4] for k in idents))}
    sizes = [size for size, _ in Counter(k[4:] for k in idents).most_common()]
    styles = {size: (["-", "--", ":", "-."][i % 4], "osD^v"[i % 5]) for i, size in enumerate(sizes)}
    for ident, name in zip(idents, names):
        colour = colours[ident[:4]]
        style, marker = styles[ident[4:]]
        for ax, facet in zip(axes, facets):
            group = sorted(series_of[ident].get(facet, []), key=lambda r: r[x])
            if not group:
                continue
            xs = np.array([r[x] for r in group], dtype=float)
            acc = np.array([r["accuracy"] for r in group], dtype=float)
            ci = np.array([r["ci95"] for r in group], dtype=float)
            ax.errorbar(xs, acc, yerr=ci, marker=marker, ms=4, capsize=3, color=colour, ls=style, label=name)
            ax.fill_between(xs, acc - ci, acc + ci, color=colour, alpha=0.15, lw=0)
    for ax, (dataset, split) in zip(axes, facets):
        ax.set_title(f"{dataset}/{split}", fontsize=9)
        ax.set_xlabel("shots per class" if x == "k_shot" else "ways (classes per episode)")
        values = sorted({r[x] for r in rows if (r.get("dataset", "?"), r["split"]) == (dataset, split)})
        ax.set_xticks(values)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%, 95% CI)")
    title = f"accuracy against {'shots' if x == 'k_shot' else 'ways'}"
    fig.suptitle(title + (f" ({', '.join(shared)})" if shared else ""), fontsize=10)
    width, height = fig.get_size_inches()
    legend_w = max(_legend_inches(names), SWEEP_LEGEND)
    right = 1 - legend_w / width
    fig.legend(*_handles(axes, names), loc="center left", bbox_to_anchor=(right + 0.01, 0.5), fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.75 / width, right=right, bottom=0.13, top=0.86, wspace=0.08)
    return fig


def _handles(axes, order: Sequence[str]):
    """Legend handles and labels of every panel, each label once, in the order of ``order``."""
    seen: Dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    labels = [name for name in dict.fromkeys(order) if name in seen]
    return [seen[name] for name in labels], labels


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
    chars = int(EMBEDDING_SIZE[0] * DPI * 0.92 / 6.4)  # DejaVu Sans at 10 pt: about 6.4 px a character
    lines = textwrap.wrap(title, chars) or [""]
    ax.set_title("\n".join(lines), fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(class_names) <= 20:
        ax.legend(fontsize=7, markerscale=1.2, loc="best")
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.03, top=0.95 - 0.035 * len(lines))
    return _save(fig, out)

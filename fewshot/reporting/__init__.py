"""Figures and results tables of run folders (the records they read are in :mod:`fewshot.runs.records`).

matplotlib and torch are imported only by the functions that need them.
"""

from ..runs.records import (
    MetricsLog,
    TensorBoardWriter,
    code_version,
    open_tensorboard,
    read_metrics,
    record_run,
    run_commit,
    series,
    tensorboard_available,
)
from .embedding import pca_2d, project_2d, tsne_2d
from .plots import plot_accuracy_sweep, plot_embedding, plot_learning_curves, plot_validation_curves
from .report import collect_results, csv_table, markdown_table, write_report
from .run_embedding import plot_run_embedding

__all__ = [
    "MetricsLog", "read_metrics", "series", "plot_learning_curves", "plot_accuracy_sweep", "plot_validation_curves",
    "plot_embedding", "plot_run_embedding", "pca_2d", "tsne_2d", "project_2d", "collect_results",
    "markdown_table", "csv_table", "write_report", "code_version", "record_run", "run_commit",
    "TensorBoardWriter", "open_tensorboard", "tensorboard_available",
]

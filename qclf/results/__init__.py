"""Results: files (JSON/CSV) and plots (PNG) written from a run's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qclf.results.files import HISTORY, METRICS, read_metrics, write_csv, write_json
from qclf.results.plots import plot_comparison, plot_confusion, plot_learning_curves


def write_run(out: Path, metrics: dict[str, Any]) -> None:
    """metrics.json, history.csv, learning_curves.png and confusion_matrix.png in ``out``."""
    out = Path(out)
    title = f"{metrics['model']} on {metrics['dataset']} (seed {metrics['seed']})"
    write_csv(out / HISTORY, metrics["history"])
    plot_learning_curves(metrics["history"], out / "learning_curves.png", title)
    plot_confusion(metrics["confusion"], metrics.get("class_names", []),
                   out / "confusion_matrix.png", title)
    # metrics.json last: its presence marks a finished run.
    write_json(out / METRICS, metrics)


__all__ = ["HISTORY", "METRICS", "plot_comparison", "plot_confusion", "plot_learning_curves",
           "read_metrics", "write_csv", "write_json", "write_run"]

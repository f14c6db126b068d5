"""Plots of runs and comparisons (PNG, via matplotlib's non-interactive backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_learning_curves(history: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax1.plot(epochs, [r["val_loss"] for r in history], "s--", label="val")
    ax1.set(xlabel="epoch", ylabel="loss", title="loss")
    ax2.plot(epochs, [r["train_accuracy"] for r in history], "o-", label="train")
    ax2.plot(epochs, [r["val_accuracy"] for r in history], "s--", label="val")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(confusion: Sequence[Sequence[int]], class_names: Sequence[str], path: Path,
                   title: str = "") -> None:
    cm = np.asarray(confusion)
    k = cm.shape[0]
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * k, 1.0 + 0.45 * k))
    im = ax.imshow(cm, cmap="Blues")
    labels = [str(c) for c in class_names] if len(class_names) == k else [str(i) for i in range(k)]
    ax.set_xticks(range(k), labels, rotation=90 if k > 4 else 0, fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    thresh = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > thresh else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_comparison(runs: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    """Validation accuracy per epoch of several runs, and test accuracy against parameters."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for m in runs:
        h = m["history"]
        ax1.plot([r["epoch"] for r in h], [r["val_accuracy"] for r in h], "o-", label=m["model"])
        ax2.scatter(m["params"]["total"], m["test_accuracy"], s=50, label=m["model"])
        ax2.annotate(m["model"], (m["params"]["total"], m["test_accuracy"]), fontsize=8,
                     xytext=(4, 4), textcoords="offset points")
    ax1.set(xlabel="epoch", ylabel="validation accuracy", title="learning curves")
    ax2.set(xlabel="parameters (total)", ylabel="test accuracy", title="accuracy vs parameters")
    ax2.set_xscale("log")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

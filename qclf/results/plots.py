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


def accuracy_floor(values: Sequence[float], num_classes: int | None = None) -> float:
    """Lower y limit for an accuracy axis: at or below chance level, so a one-image difference
    between two near-perfect models does not fill the whole plot."""
    chance = 1.0 / num_classes if num_classes else 0.0
    low = min([*values, chance]) if len(values) else chance
    return max(0.0, np.floor(low * 10) / 10)


def plot_comparison(runs: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    """Validation accuracy per epoch of several runs, and test accuracy against parameters.

    Both accuracy axes run from chance level (or the lowest value) to 1; each model's test
    accuracy carries its seeds' spread when several runs of it are given.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    by_model: dict[str, list[dict[str, Any]]] = {}
    for m in runs:
        by_model.setdefault(m["model"], []).append(m)
    values = []
    for k, (name, ms) in enumerate(by_model.items()):
        (line,) = ax1.plot([r["epoch"] for r in ms[0]["history"]],
                           [r["val_accuracy"] for r in ms[0]["history"]], "o-", label=name)
        for extra in ms[1:]:
            ax1.plot([r["epoch"] for r in extra["history"]],
                     [r["val_accuracy"] for r in extra["history"]], "o-", alpha=0.4,
                     color=line.get_color())
        acc = np.asarray([m["test_accuracy"] for m in ms])
        x = ms[0]["params"]["total"]
        ax2.errorbar(x, acc.mean(), yerr=acc.std(ddof=1) if len(acc) > 1 else 0.0, fmt="o",
                     capsize=4, color=line.get_color(), label=f"{name} (n={len(acc)})")
        # matched twins share the x position: stack the labels instead of overprinting them
        ax2.annotate(f"{name}: {acc.mean():.3f}", (x, acc.mean()), fontsize=8,
                     xytext=(10, -12 - 14 * k), textcoords="offset points",
                     arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "gray"})
        values += [r["val_accuracy"] for m in ms for r in m["history"]] + list(acc)
    k = len(runs[0].get("class_names", [])) if runs else 0
    floor = accuracy_floor(values, k or None)
    ax1.set(xlabel="epoch", ylabel="validation accuracy", title="learning curves",
            ylim=(floor, 1.005))
    from matplotlib.ticker import MaxNLocator

    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set(xlabel="parameters (total)", ylabel="test accuracy",
            title="test accuracy vs parameters", ylim=(floor, 1.005))
    ax2.set_xscale("log")
    ax2.margins(x=0.4)  # room for the labels beside the points
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)

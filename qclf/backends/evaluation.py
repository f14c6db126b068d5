"""Evaluate a trained run on a backend: classical parts in torch, quantum circuits on the backend.

Images are processed in chunks; chunk ``k`` reseeds the backend from ``(seed, k)``, so a result
does not depend on how a run was split up or resumed. The exact engine's accuracy on the same
images is computed alongside, so a file says what shots and noise cost.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from qclf.backends.base import Backend
from qclf.backends.model import on_backend
from qclf.backends.runs import TrainedRun, eval_filename, write_json_atomic


def chunk_seed(seed: int | None, k: int) -> int | None:
    """The seed of chunk ``k`` of an evaluation seeded with ``seed``."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def chunk_ranges(n: int, chunk_size: int) -> list[range]:
    if chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1 image, got {chunk_size}")
    return [range(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]


@torch.no_grad()
def exact_predictions(run: TrainedRun, batch_size: int = 256) -> np.ndarray:
    """Predicted classes of the exact torch engine (what training measured)."""
    return np.concatenate([run.model(run.images[i:i + batch_size]).argmax(1).numpy()
                           for i in range(0, len(run.images), batch_size)])


def summary(run: TrainedRun, backend: Backend, preds: np.ndarray, exact: np.ndarray,
            seconds: float, layers: list[str], chunk_size: int) -> dict[str, Any]:
    """The evaluation record written to ``eval-*.json``."""
    labels = run.labels.numpy()
    return {
        "model": run.config.get("model"), "dataset": run.config.get("dataset"),
        "run_seed": run.config.get("seed"), **backend.describe(),
        "n_images": len(labels),
        "accuracy": float((preds == labels).mean()),
        "exact_accuracy": float((exact == labels).mean()),
        "agreement_with_exact": float((preds == exact).mean()),
        **backend.stats.as_dict(),
        "wall_seconds": seconds, "chunk_size": chunk_size, "quantum_layers": layers,
        "predictions": preds.tolist(),
    }


@torch.no_grad()
def evaluate_on_backend(run: TrainedRun, backend: Backend, chunk_size: int = 64,
                        progress: bool = True) -> dict[str, Any]:
    """Accuracy of ``run.model`` with its quantum layers on ``backend`` (see module doc)."""
    exact = exact_predictions(run)
    seed = backend.seed
    t0 = time.perf_counter()
    preds = np.empty(len(run.labels), dtype=np.int64)
    ranges = chunk_ranges(len(run.labels), chunk_size)
    with on_backend(run.model, backend) as layers, tqdm(
            total=len(run.labels), unit="img", disable=not progress, dynamic_ncols=True,
            desc=f"{run.config.get('model')} on {backend.name}") as bar:
        for k, idx in enumerate(ranges):
            backend.reseed(chunk_seed(seed, k))
            sl = slice(idx.start, idx.stop)
            preds[sl] = run.model(run.images[sl]).argmax(1).numpy()
            bar.update(len(idx))
            done = backend.stats.circuits
            bar.set_postfix(circuits=f"{done}/~{done * len(run.labels) // idx.stop}")
    backend.seed = seed
    return summary(run, backend, preds, exact, time.perf_counter() - t0, layers, chunk_size)


def write_evaluation(run_dir: Path, result: dict[str, Any]) -> Path:
    """``RUN_DIR/eval-<backend>[-<noise>]-<shots>.json`` (atomic)."""
    path = Path(run_dir) / eval_filename(result["backend"], result.get("noise"),
                                         result.get("shots"))
    write_json_atomic(path, result)
    return path


def plot_sweep(run_dir: Path, results: list[dict[str, Any]]) -> Path:
    """``accuracy_vs_shots-<backend>[-<noise>].png``: backend accuracy per shot count, the exact
    engine as a line (one file per backend and noise model, so sweeps never replace each
    other)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shots = [r["shots"] for r in results]
    first = results[0]
    label = first["backend"] + (f" + {first['noise']} noise" if first.get("noise") else "")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(shots, [r["accuracy"] for r in results], "o-", label=label)
    ax.axhline(results[0]["exact_accuracy"], color="k", ls="--", label="exact engine")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("shots per circuit")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{results[0]['model']} on {results[0]['dataset']} "
                 f"({results[0]['n_images']} images)")
    ax.legend()
    fig.tight_layout()
    path = Path(run_dir) / sweep_plot_name(first["backend"], first.get("noise"))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sweep_plot_name(backend: str, noise: str | None) -> str:
    """``accuracy_vs_shots-<backend>[-<noise>].png`` with ``:`` made file-safe."""
    parts = [backend.replace(":", "_")] + ([noise] if noise else [])
    return "accuracy_vs_shots-" + "-".join(parts) + ".png"

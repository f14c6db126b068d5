"""Trained runs on disk: load the model and its test images; write evaluation files atomically."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainedRun:
    """A trained model (eval mode, float64 for exactness) and the images it is evaluated on."""

    run_dir: Path
    config: dict[str, Any]
    model: nn.Module
    images: torch.Tensor
    labels: torch.Tensor


def load_run(run_dir: str | os.PathLike[str], limit: int | None = None,
             data_dir: str | None = None) -> TrainedRun:
    """The model of ``RUN_DIR/checkpoint.pt`` and ``limit`` stratified test images (chosen by
    the run's seed, so every evaluation of a run sees the same images)."""
    from qclf.data import load_dataset
    from qclf.models import create_model

    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT}: point RUN_DIR at a folder "
                                "written by 'qclf train --out RUN_DIR'")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or "config" not in payload or "model" not in payload:
        raise ValueError(f"{path} is not a qclf training checkpoint (no config/model)")
    cfg = payload["config"]
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive number of images, got {limit}")
    eval_limit = cfg.get("eval_limit")
    n = min(x for x in (limit, eval_limit) if x is not None) if (limit or eval_limit) else None
    test = load_dataset(cfg["dataset"], "test", data_dir=data_dir or cfg.get("data_dir"),
                        limit=n, seed=cfg.get("seed", 0))
    info = test.info
    model = create_model(cfg["model"], num_classes=info.num_classes,
                         input_shape=tuple(info.input_shape), **cfg.get("model_kw", {}))
    model.load_state_dict(payload["model"])
    model = model.double().eval()
    x, y = test[torch.arange(len(test))]
    return TrainedRun(run_dir, cfg, model, x.double(), y)


def eval_filename(backend: str, noise: str | None, shots: int | None) -> str:
    """``eval-<backend>[-<noise>]-<shots|exact>.json`` with ``:`` made file-safe."""
    parts = [backend.replace(":", "_")] + ([noise] if noise else []) + [str(shots or "exact")]
    return "eval-" + "-".join(parts) + ".json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename (kill-safe)."""
    from qclf.results.files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, default=_default) + "\n")


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)

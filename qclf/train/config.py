"""The one configuration object a training run is described by.

Everything that changes the numbers a run produces lives here, so a checkpoint can refuse to
resume under a different configuration and a results file can say exactly what was run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qclf.errors import option

# Fields that may differ between a run and its resumption without changing the result
# of the epochs already done (more epochs extend a run; the rest are about where/how to log).
RESUMABLE_FIELDS = frozenset({"epochs", "out", "resume", "progress", "overwrite", "data_dir",
                              "device", "download"})


def _check_int(cfg: Any, key: str, minimum: int) -> None:
    value = getattr(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{option(key)} must be an integer >= {minimum}, got {value!r}")


def _check_number(cfg: Any, key: str, ok: Callable[[float], bool], rule: str) -> None:
    value = getattr(cfg, key)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not ok(value)):
        raise ValueError(f"{option(key)} must be a number {rule}, got {value!r}")


@dataclass
class TrainConfig:
    """Hyper-parameters and bookkeeping of one training run (one model, one data set, one seed)."""

    model: str = "hqnn_parallel"
    dataset: str = "digits"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"  # adam | adamw | sgd
    scheduler: str | None = None  # None | onecycle | cosine
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto (CUDA when torch sees one, else CPU) | cpu | cuda | cuda:N
    data_dir: str | None = None
    limit: int | None = None  # stratified subset of the training split
    eval_limit: int | None = None  # stratified subset of val/test (None: full splits)
    model_kw: dict[str, Any] = field(default_factory=dict)
    out: str | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    download: bool = False  # fetch missing data files (torchvision/medmnist, the [data] extra)

    def __post_init__(self) -> None:
        _check_int(self, "epochs", 1)
        _check_int(self, "batch_size", 1)
        _check_int(self, "seed", 0)
        for key in ("limit", "eval_limit"):
            if getattr(self, key) is not None:
                _check_int(self, key, 1)
        _check_number(self, "lr", lambda v: v > 0, "> 0")
        _check_number(self, "weight_decay", lambda v: v >= 0, ">= 0")
        _check_number(self, "label_smoothing", lambda v: 0 <= v < 1, "in [0, 1)")
        if self.optimizer not in {"adam", "adamw", "sgd"}:
            raise ValueError(f"{option('optimizer')} must be adam, adamw or sgd, got "
                             f"{self.optimizer!r}")
        if self.scheduler not in {None, "onecycle", "cosine"}:
            raise ValueError(f"{option('scheduler')} must be onecycle, cosine or none, "
                             f"got {self.scheduler!r}")
        if not isinstance(self.device, str) or not (
                self.device in {"cpu", "cuda", "auto"}
                or re.fullmatch(r"cuda:\d+", self.device)):
            raise ValueError(f"{option('device')} must be auto, cpu, cuda or cuda:N, got "
                             f"{self.device!r}")
        if not isinstance(self.model_kw, dict):
            raise ValueError(f"model_kw must be a dict of builder options, got {self.model_kw!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def fingerprint(self) -> dict[str, Any]:
        """The fields a resumed run must share with the run that wrote the checkpoint."""
        free = RESUMABLE_FIELDS
        if self.scheduler is not None:
            # A schedule is laid out over all epochs: extending the run would change it.
            free = free - {"epochs"}
        d = {k: v for k, v in self.to_dict().items() if k not in free}
        return json.loads(json.dumps(d, sort_keys=True, default=str))

    @property
    def out_path(self) -> Path | None:
        return Path(self.out) if self.out else None

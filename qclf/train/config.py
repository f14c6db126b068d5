"""The one configuration object a training run is described by.

Everything that changes the numbers a run produces lives here, so a checkpoint can refuse to
resume under a different configuration and a results file can say exactly what was run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Fields that may differ between a run and its resumption without changing the result
# of the epochs already done (more epochs extend a run; the rest are about where/how to log).
RESUMABLE_FIELDS = frozenset({"epochs", "out", "resume", "progress", "overwrite", "data_dir",
                              "device"})


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
    device: str = "cpu"  # cpu | cuda | auto
    data_dir: str | None = None
    limit: int | None = None  # stratified subset of the training split
    eval_limit: int | None = None  # stratified subset of val/test (None: full splits)
    model_kw: dict[str, Any] = field(default_factory=dict)
    out: str | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.optimizer not in {"adam", "adamw", "sgd"}:
            raise ValueError(f"optimizer must be adam, adamw or sgd, got {self.optimizer!r}")
        if self.scheduler not in {None, "onecycle", "cosine"}:
            raise ValueError(f"scheduler must be onecycle, cosine or None, got {self.scheduler!r}")
        if self.device not in {"cpu", "cuda", "auto"} and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {self.device!r}")

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

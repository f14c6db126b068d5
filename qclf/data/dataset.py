"""A loaded data set: its metadata (``DatasetInfo``) and in-memory tensors (``ImageDataset``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

TASKS = ("multiclass", "binary")


@dataclass(frozen=True)
class DatasetInfo:
    """Everything known about a data set without reading it.

    ``files`` lists the accepted on-disk layouts relative to the data dir; ``splits`` says how
    train/val/test are formed (which split is official, which is carved and how).
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W)
    class_names: tuple[str, ...]
    task: str = "multiclass"
    files: tuple[str, ...] = ()
    splits: str = ""
    source: str = ""
    citation: str = ""
    license: str = ""
    aliases: tuple[str, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"{self.name}: {len(self.class_names)} class names for "
                             f"{self.num_classes} classes")
        if len(self.input_shape) != 3:
            raise ValueError(f"{self.name}: input_shape must be (C, H, W), got {self.input_shape}")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "aliases", tuple(self.aliases))


class ImageDataset(Dataset):
    """A whole split held in memory.

    ``images`` is (N, C, H, W), uint8 where the source is uint8 (4x less memory) and float32 in
    [0, 1] otherwise; ``labels`` is int64 (N,). Indexing takes an int or a batch of indices (a
    LongTensor, array or list) and returns ``(x, y)`` with ``x`` float32 in [0, 1], so a training
    loop can fetch a whole batch in one call instead of collating N items.
    """

    def __init__(self, images: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                 info: DatasetInfo, split: str) -> None:
        images = _as_tensor(images)
        labels = _as_tensor(labels).long()
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if images.dtype not in (torch.uint8, torch.float32):
            raise ValueError(f"images must be uint8 or float32, got {images.dtype}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must be ({images.shape[0]},), got {tuple(labels.shape)}")
        if tuple(images.shape[1:]) != info.input_shape:
            raise ValueError(f"{info.name}: images are {tuple(images.shape[1:])}, "
                             f"expected {info.input_shape}")
        self.images = images
        self.labels = labels
        self.info = info
        self.split = split

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, idx: int | torch.Tensor | np.ndarray | Sequence[int]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(idx, (int, np.integer)):
            idx = torch.as_tensor(idx, dtype=torch.long)
        x = self.images[idx]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return x, self.labels[idx]

    def class_counts(self) -> list[int]:
        """Samples per class, indexed by label (length ``info.num_classes``)."""
        return torch.bincount(self.labels, minlength=self.info.num_classes).tolist()

    def __repr__(self) -> str:
        return (f"ImageDataset({self.info.name!r}, split={self.split!r}, n={len(self)}, "
                f"shape={tuple(self.images.shape[1:])}, dtype={self.images.dtype})")


def _as_tensor(a: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a
    a = np.asarray(a)
    if not a.flags.writeable or not a.flags.c_contiguous:
        a = np.array(a, copy=True, order="C")  # cached arrays are read-only; torch wants writeable
    return torch.from_numpy(a)

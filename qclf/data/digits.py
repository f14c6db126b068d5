"""scikit-learn's 8x8 handwritten digits: the embedded default, needs no files."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from qclf.data.catalog import register_dataset
from qclf.data.splits import stratified_split

FRACTIONS = (0.6, 0.2, 0.2)  # train / val / test


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]  # pixel values 0..16 -> [0, 1]
    x.flags.writeable = False
    y = d.target.astype(np.int64)
    y.flags.writeable = False
    return x, y


@register_dataset(
    "digits",
    num_classes=10,
    input_shape=(1, 8, 8),
    class_names=tuple(str(i) for i in range(10)),
    files=("(embedded in scikit-learn; no files)",),
    splits="1,797 images split 60/20/20 train/val/test, stratified, by `seed` (default 0).",
    source="sklearn.datasets.load_digits (UCI Optical Recognition of Handwritten Digits, test set)",
    citation="E. Alpaydin, C. Kaynak, Optical Recognition of Handwritten Digits, UCI ML "
             "Repository, 1998.",
    license="CC BY 4.0",
)
def load_digits(split: str, root: Path, *, seed: int, download: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    x, y = _digits()
    idx = stratified_split(y, FRACTIONS, seed)[("train", "val", "test").index(split)]
    return x[idx], y[idx]

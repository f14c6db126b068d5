"""Deterministic stratified splits and subsets (every split here is a pure function of the seed).

Sources without a validation split (MNIST family, CIFAR, STL-10) get one carved from their
official train split: ``VAL_FRACTION`` of each class, chosen with the fixed ``VAL_SEED`` so the
validation set is the same for every run seed and never overlaps train. The test split is always
the official one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

VAL_FRACTION = 0.1
VAL_SEED = 0


def _largest_remainder(weights: np.ndarray, total: int, caps: np.ndarray) -> np.ndarray:
    """Integer allocation of ``total`` proportional to ``weights``, each at most its cap."""
    exact = weights / weights.sum() * total
    counts = np.minimum(np.floor(exact).astype(np.int64), caps)
    # hand out what rounding left over, largest remainder first, ties by class index
    order = np.lexsort((np.arange(len(weights)), -(exact - np.floor(exact))))
    while counts.sum() < total:
        progressed = False
        for c in order:
            if counts.sum() >= total:
                break
            if counts[c] < caps[c]:
                counts[c] += 1
                progressed = True
        if not progressed:
            break
    return counts


def stratified_split(labels: np.ndarray, fractions: Sequence[float], seed: int
                     ) -> list[np.ndarray]:
    """Split indices into ``len(fractions)`` disjoint parts with each class spread by fraction.

    Part sizes are ``round(fraction * N)`` (the last part takes the rest), shared out between
    classes in proportion to their sizes, so tiny sets split as evenly as large ones. Every sample
    lands in exactly one part; each part's indices are sorted (the source order is kept).
    """
    labels = np.asarray(labels)
    fr = np.asarray(fractions, dtype=np.float64)
    if np.any(fr < 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {list(fractions)}")
    classes, sizes = np.unique(labels, return_counts=True)
    left = sizes.copy()
    counts = []  # per part, per class
    for f in fr[:-1]:
        k = _largest_remainder(sizes.astype(np.float64), int(round(f * len(labels))), left)
        counts.append(k)
        left = left - k
    counts.append(left)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for ci, c in enumerate(classes):
        idx = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for p, k in enumerate(counts):
            parts[p].append(idx[start:start + k[ci]])
            start += k[ci]
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` samples whose class proportions follow ``labels``.

    Deterministic in ``seed``; ``n >= len(labels)`` returns every index.
    """
    labels = np.asarray(labels)
    if n < 1:
        raise ValueError(f"limit must be a positive number of samples, got {n}")
    if n >= len(labels):
        return np.arange(len(labels))
    classes, sizes = np.unique(labels, return_counts=True)
    counts = _largest_remainder(sizes.astype(np.float64), n, sizes)
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k]
              for c, k in zip(classes, counts, strict=True)]
    return np.sort(np.concatenate(picked))


def carve_val(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of the official train split that form our ``train`` or ``val`` split."""
    train, val = stratified_split(labels, [1 - VAL_FRACTION, VAL_FRACTION], VAL_SEED)
    if split == "train":
        return train
    if split == "val":
        return val
    raise ValueError(f"carve_val handles 'train' and 'val', got {split!r}")

"""The data-set registry: register, load, list and describe data sets by name.

A loader is registered with its metadata next to it (timm style) and has the signature
``loader(split, root, *, seed, download) -> (images, labels)``: numpy arrays (N, C, H, W) uint8 or
float32 in [0, 1], and integer labels (N,). ``load_dataset`` resolves the name and data dir, calls
the loader, checks what came back, applies ``limit`` and wraps the result in an ``ImageDataset``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qclf.data.dataset import DatasetInfo, ImageDataset
from qclf.data.files import resolve_data_dir
from qclf.data.splits import stratified_subset
from qclf.registry import Registry

SPLITS = ("train", "val", "test")


class Loader(Protocol):
    def __call__(self, split: str, root: Path, *, seed: int, download: bool
                 ) -> tuple[np.ndarray, np.ndarray]: ...


DATASETS: Registry[Callable[..., tuple[np.ndarray, np.ndarray]]] = Registry("dataset")
_ALIASES: dict[str, str] = {}
_REFUSED: dict[str, str] = {}  # known names qclf deliberately does not load -> why


class UnsupportedDatasetError(ValueError):
    """A known data set that qclf does not load (e.g. a multi-label one)."""


def register_dataset(name: str, **meta: Any) -> Callable[[Loader], Loader]:
    """Decorator registering ``loader`` under ``name``; ``meta`` are ``DatasetInfo`` fields.

    ``aliases=(...)`` adds other names ``load_dataset`` accepts (e.g. ``medmnist/breastmnist``).
    """
    info = DatasetInfo(name=name, **meta)

    def deco(loader: Loader) -> Loader:
        DATASETS.register(name, info=info)(loader)
        for alias in info.aliases:
            if _ALIASES.get(alias, name) != name:
                raise ValueError(f"dataset alias {alias!r} already points to {_ALIASES[alias]!r}")
            _ALIASES[alias] = name
        return loader

    return deco


def refuse_dataset(name: str, reason: str, aliases: tuple[str, ...] = ()) -> None:
    """Record a known name that must fail with ``reason`` rather than "unknown data set"."""
    for n in (name, *aliases):
        _REFUSED[n] = reason


def canonical_name(name: str) -> str:
    """The registered name for ``name`` or an alias; case, ``-``/``_`` and a family prefix are
    forgiven. Unknown names raise ``UnknownNameError`` listing close matches."""
    raw = name.strip()
    norm = raw.lower().replace("-", "_")
    for key in (raw, norm):
        if key in DATASETS:
            return key
        if key in _ALIASES:
            return _ALIASES[key]
        if key in _REFUSED:
            raise UnsupportedDatasetError(f"data set {name!r} is not supported: {_REFUSED[key]}")
    prefix, _, rest = norm.rpartition("/")
    if prefix and rest in DATASETS:
        return rest
    DATASETS.get(rest or norm)  # raises with "did you mean" suggestions
    raise AssertionError("unreachable")


def dataset_info(name: str) -> DatasetInfo:
    """Metadata of a data set without reading any file."""
    return DATASETS.meta(canonical_name(name))["info"]


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered names matching the glob ``pattern`` (matched against names and aliases)."""
    out = []
    for n in DATASETS.names():
        info = DATASETS.meta(n)["info"]
        if any(fnmatch.fnmatch(k, pattern) for k in (n, *info.aliases)):
            out.append(n)
    return out


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike[str] | None = None,
                 limit: int | None = None, seed: int = 0, download: bool = False
                 ) -> ImageDataset:
    """Load one split of a registered data set into memory.

    ``split`` is ``train``, ``val`` or ``test``; ``test`` is always the source's official test
    split (see ``dataset_info(name).splits`` for how val is formed). ``data_dir`` defaults to
    ``$QCLF_DATA`` (or ``$QCLF_DATA_DIR``), then ``./data``. ``limit=N`` keeps a stratified
    subset of N samples chosen by ``seed``. The network is used only with ``download=True``,
    and only when local files are missing.
    """
    key = canonical_name(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be a positive number of samples or None, got {limit}")
    info: DatasetInfo = DATASETS.meta(key)["info"]
    loader = DATASETS.get(key)
    images, labels = loader(split, resolve_data_dir(data_dir), seed=seed, download=download)
    labels = np.asarray(labels).astype(np.int64, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= info.num_classes):
        raise ValueError(f"{key} {split}: labels outside [0, {info.num_classes})")
    if limit is not None:
        idx = stratified_subset(labels, int(limit), seed)
        images, labels = images[idx], labels[idx]
    return ImageDataset(images, labels, info, split)

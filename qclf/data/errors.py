"""Errors raised where data enters qclf: a missing file, or a file that is not what it claims."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

FIX_HINT = (
    "pass --data-dir DIR (or data_dir=...) / set QCLF_DATA to a folder holding the files, "
    "or pip install 'qclf[data]' and pass --download (download=True from Python) to fetch them "
    "via torchvision/medmnist"
)


class DatasetNotFoundError(FileNotFoundError):
    """The files of a data set are not where any accepted layout puts them."""

    def __init__(self, dataset: str, expected: Iterable[str | Path], fmt: str,
                 hint: str = FIX_HINT) -> None:
        paths = [str(p) for p in expected]
        self.dataset = dataset
        self.expected = paths
        msg = (f"data set {dataset!r} not found: expected {fmt} at "
               + (paths[0] if len(paths) == 1 else "one of: " + "; ".join(paths))
               + f". To fix: {hint}.")
        super().__init__(msg)

    def __str__(self) -> str:  # FileNotFoundError would prefix an errno
        return str(self.args[0])


class CorruptDatasetError(ValueError):
    """A data file exists but is truncated, has a bad header, or holds unexpected values."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {problem}. Delete or replace the file (download=True refetches "
                         "it where a network exists).")

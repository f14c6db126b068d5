"""Where data lives and how files are read once per process.

Data-dir resolution: an explicit ``data_dir`` > ``$QCLF_DATA`` (or ``$QCLF_DATA_DIR``) > ``./data``.
Parsed arrays are cached in-process keyed by (path, mtime, size), so loading train and then
val decompresses a file once, and a replaced file is read again.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from qclf.data.errors import DatasetNotFoundError

ENV_VAR = "QCLF_DATA"
LEGACY_ENV_VAR = "QCLF_DATA_DIR"  # the earlier name, still read
DEFAULT_DIR = Path("data")


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data dir to read: the argument, else ``$QCLF_DATA`` (or the older
    ``$QCLF_DATA_DIR``), else ``./data`` (relative to the working directory)."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    for var in (ENV_VAR, LEGACY_ENV_VAR):
        env = os.environ.get(var)
        if env:
            return Path(env).expanduser()
    return DEFAULT_DIR


@functools.lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, size: int, parser: Callable[[Path], Any]) -> Any:
    return parser(Path(path))


def cached_read(path: Path, parser: Callable[[Path], Any]) -> Any:
    """``parser(path)``, memoised per process until the file changes.

    The result is shared between callers: parsers return read-only numpy arrays.
    """
    st = path.stat()
    return _cached(str(path.resolve()), st.st_mtime_ns, st.st_size, parser)


def clear_cache() -> None:
    """Drop every parsed array held in memory."""
    _cached.cache_clear()


def first_existing(candidates: Iterable[Path]) -> Path | None:
    for p in candidates:
        if p.exists():
            return p
    return None


def import_for_download(module: str, dataset: str, expected: Iterable[Path], fmt: str
                        ) -> ModuleType:
    """Import the optional download backend, or explain the missing file and the fix."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DatasetNotFoundError(
            dataset, expected, fmt,
            hint=f"download=True needs {module}, which is not installed: pip install 'qclf[data]', "
                 "or put the files there and pass --data-dir DIR / set QCLF_DATA_DIR",
        ) from None

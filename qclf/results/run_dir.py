"""The one output policy of qclf: nothing a user has is ever overwritten silently.

Every command that writes results (``train``, ``demo``, ``bench``, ``evaluate``) calls
:func:`prepare_run_dir` on its output folder **before** any work starts:

- a path that is a file is refused (name the path, ask for a folder);
- a folder already holding any file this command would write is refused unless the user asked
  to ``resume`` (continue it) or to ``overwrite`` (start afresh);
- ``overwrite`` never deletes: the old files move to ``DIR/.previous-<timestamp>/``;
- the folder is created and checked writable, so a typo'd or read-only path fails in a second,
  not after an epoch of training.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from qclf.errors import option

PREVIOUS_PREFIX = ".previous-"


class OutputDirError(ValueError):
    """An output folder that cannot be used as asked (it holds results, is a file, ...)."""


def _flag(name: str) -> str:
    return option(name, True)


def prepare_run_dir(path: str | os.PathLike[str], outputs: Iterable[str], *, resume: bool = False,
                    overwrite: bool = False, out_option: str = "out") -> Path:
    """Make ``path`` ready for a command that writes ``outputs`` (file or folder names) there.

    Returns the folder. Raises :class:`OutputDirError` with the fix in the message. With
    ``resume`` the existing outputs are left for the caller to continue; with ``overwrite`` they
    are moved (not deleted) to ``path/.previous-<UTC timestamp>/``.
    """
    path = Path(path)
    if resume and overwrite:
        raise OutputDirError(f"{_flag('resume')} and {_flag('overwrite')} contradict each other: "
                             "continue the run, or move it aside and start again, not both")
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"{option(out_option)} {path} is a file, not a folder; "
                             "choose a folder path for the results")
    for parent in path.parents:  # a file where a parent folder must go
        if parent.exists() and not parent.is_dir():
            raise OutputDirError(f"{option(out_option)} {path}: {parent} is a file, "
                                 "so no folder can be made below it")
    names = set(outputs)
    existing = sorted(p.name for p in path.iterdir() if p.name in names) if path.is_dir() else []
    if existing and not resume and not overwrite:
        shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
        raise OutputDirError(
            f"{path} already holds results ({shown}); pass {_flag('resume')} to continue them, "
            f"{_flag('overwrite')} to move them to {path}/{PREVIOUS_PREFIX}<timestamp>/ and start "
            f"again, or choose another {option(out_option)}")
    if existing and overwrite:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        dest = path / f"{PREVIOUS_PREFIX}{stamp}"
        n = 1
        while dest.exists():
            n += 1
            dest = path / f"{PREVIOUS_PREFIX}{stamp}-{n}"
        dest.mkdir()
        for name in existing:
            shutil.move(str(path / name), str(dest / name))
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".qclf-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputDirError(f"cannot write results to {path} ({exc.strerror or exc}); choose "
                             f"another {option(out_option)}") from None
    return path

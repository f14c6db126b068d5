"""Mistakes a user can fix, worded for where the user is: the CLI speaks flags, Python speaks
keyword arguments.

Library code names an option with :func:`option` (``option("resume")`` is ``--resume`` under the
``qclf`` command and ``resume=True`` from Python), so one message serves both. The CLI sets the
wording for the duration of a command with :func:`cli_wording`.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator
from typing import Any

_CLI: contextvars.ContextVar[bool] = contextvars.ContextVar("qclf_cli_wording", default=False)


class QclfWarning(UserWarning):
    """A legal but suspicious choice (a learning rate above 1, fewer images than classes...)."""


@contextlib.contextmanager
def _wording(cli: bool) -> Iterator[None]:
    token = _CLI.set(cli)
    try:
        yield
    finally:
        _CLI.reset(token)


def cli_wording() -> contextlib.AbstractContextManager[None]:
    """Name options as flags (``--resume``) while the ``qclf`` command runs."""
    return _wording(True)


def python_wording() -> contextlib.AbstractContextManager[None]:
    """Name options as keys (for messages about config files, even under the CLI)."""
    return _wording(False)


def in_cli() -> bool:
    return _CLI.get()


_NO_VALUE = object()


def option(name: str, value: Any = _NO_VALUE) -> str:
    """How the user sets option ``name``: ``--name`` in the CLI; in Python ``name``, or
    ``name=value`` when ``value`` is the fix to pass (``option("resume", True)``)."""
    if in_cli():
        return "--" + name.replace("_", "-")
    return name if value is _NO_VALUE else f"{name}={value!r}"


def warn(message: str) -> None:
    """A :class:`QclfWarning` (printed by the CLI as one ``qclf: warning:`` line)."""
    warnings.warn(message, QclfWarning, stacklevel=3)

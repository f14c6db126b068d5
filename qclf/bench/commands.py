"""CLI subcommands of the comparison harness (filled in by the harness)."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``bench`` and ``report`` to the ``qclf`` parser."""

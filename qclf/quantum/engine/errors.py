"""Errors raised by the engine: each one names what to change."""

from __future__ import annotations


class UnsupportedCircuit(Exception):
    """The circuit contains something the engine does not simulate (the layer falls back to
    PennyLane for it unless strict mode is on)."""


class StrictModeError(RuntimeError):
    """Strict mode (``QCLF_STRICT=1`` or ``TorchLayer(..., strict=True)``) forbids falling back
    to PennyLane; the message says why the engine could not run the circuit."""


class MemoryLimitExceeded(RuntimeError):
    """The state vectors of a call would not fit in the memory limit (see
    :mod:`qclf.quantum.engine.guard`)."""

"""Compatibility module: the engine now lives in :mod:`qclf.quantum.engine` (in parts)."""

from .engine import UnsupportedCircuit, expand_operations, simulate

__all__ = ["UnsupportedCircuit", "expand_operations", "simulate"]

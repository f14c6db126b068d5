"""Decomposition of recorded operations into gates the engine applies directly."""

from __future__ import annotations

from collections.abc import Sequence

import pennylane as qml

from . import thresholds
from .errors import UnsupportedCircuit
from .gates import GATES, SKIPPED


def is_state_prep(op) -> bool:
    return isinstance(op, qml.StatePrep)


def is_leaf(op) -> bool:
    """Applied as it is: a closed-form gate, a state preparation or a small matrix."""
    return (
        op.name in GATES
        or is_state_prep(op)
        or (op.has_matrix and len(op.wires) <= thresholds.MAX_MATRIX_WIRES)
    )


def expand_operations(ops: Sequence) -> list:
    """Decompose operations until each one has a matrix (or is a state preparation)."""
    out: list = []

    def visit(op, depth):
        if depth > 64:
            raise UnsupportedCircuit(f"decomposition of {op.name} is too deep")
        if op.name in SKIPPED:
            return
        if is_leaf(op):
            out.append(op)
            return
        if op.has_decomposition:
            try:
                sub = op.decomposition()
            except Exception as exc:  # noqa: BLE001 - any failure means "not supported"
                if op.has_matrix:
                    out.append(op)
                    return
                raise UnsupportedCircuit(f"cannot decompose {op.name}: {exc}") from exc
            for s in sub:
                visit(s, depth + 1)
            return
        if op.has_matrix:
            out.append(op)
            return
        raise UnsupportedCircuit(f"operation {op.name} has neither a matrix nor a decomposition")

    with qml.QueuingManager.stop_recording():
        for op in ops:
            visit(op, 0)
    return out

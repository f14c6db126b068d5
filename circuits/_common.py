"""Small helpers shared by the circuit families."""

from __future__ import annotations

from typing import Any

import pennylane as qml

ROTATIONS = {"X": qml.RX, "Y": qml.RY, "Z": qml.RZ}


def rotation_gate(rotation: str) -> type[qml.operation.Operation]:
    """The PennyLane rotation class for ``"X"``, ``"Y"`` or ``"Z"``."""
    try:
        return ROTATIONS[rotation.upper()]
    except (KeyError, AttributeError):
        raise ValueError(f"rotation must be one of 'X', 'Y', 'Z', got {rotation!r}") from None


def n_inputs(inputs: Any, n_max: int, name: str) -> int:
    """Number of features in the last axis of ``inputs``, checked against ``n_max``."""
    n = qml.math.shape(inputs)[-1] if qml.math.ndim(inputs) else 1
    if n > n_max:
        raise ValueError(
            f"{name} encodes at most {n_max} features on these wires, got {n} "
            f"(inputs of shape {tuple(qml.math.shape(inputs))})"
        )
    return n

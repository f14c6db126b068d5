r"""Basic entangler layers: one rotation per qubit, then a closed CNOT ring.

.. math:: U_l = \prod_{i} \mathrm{CNOT}_{i,\,(i+1)\bmod n}\;\bigotimes_i R_P(\theta_{li})

Weights: ``(depth, n_qubits)``; ``rotation`` is P (default X). On two qubits the ring is a single
CNOT. S3 (2025) uses 2 layers on 4 qubits after amplitude encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from ._common import rotation_gate
from .registry import register_circuit


@register_circuit(
    "basic_entangler",
    "ansatz",
    shape=lambda n, depth: (depth, n),
    layered=True,
    source="S3 (Hybrid quantum-classical model, 2025)",
)
def basic_entangler(weights: Any, wires: Sequence[int], rotation: str = "X") -> None:
    """depth x [R_P(w) on every qubit, CNOT ring]."""
    qml.BasicEntanglerLayers(weights, wires=wires, rotation=rotation_gate(rotation))

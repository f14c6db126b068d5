r"""No-entanglement control: single-qubit rotations only.

.. math:: U = \bigotimes_i \prod_{l} \mathrm{Rot}(\phi_{li}, \theta_{li}, \omega_{li})

The same weight shape ``(depth, n_qubits, 3)`` and rotations as ``strongly_entangling`` without
its CNOTs, so a comparison between the two isolates what entanglement contributes. The state
stays a product state: each qubit's expectation values depend only on its own feature and
weights. (S4 reports that circuits with entanglement score best; this is the ablation.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from .registry import register_circuit


@register_circuit(
    "no_entanglement",
    "ansatz",
    shape=lambda n, depth: (depth, n, 3),
    layered=True,
    source="control for S1/S4 (strongly_entangling without CNOTs)",
)
def no_entanglement(weights: Any, wires: Sequence[int]) -> None:
    """depth x [Rot on every qubit]; a product state, no entangling gates."""
    for layer in range(qml.math.shape(weights)[-3]):
        for i, w in enumerate(wires):
            qml.Rot(*(weights[..., layer, i, k] for k in range(3)), wires=w)

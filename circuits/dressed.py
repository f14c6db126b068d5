r"""The variational part of the dressed quantum circuit (Mari et al., Quantum 4, 340 (2020)).

The full dressed circuit is Linear → tanh·π/2 → H, RY(x) (the ``hadamard_angle`` encoding)
→ this ansatz → ⟨Z⟩ → Linear. Each of the ``depth`` layers (6 in the paper, on 4 qubits) is

.. math:: U_l = \bigotimes_i R_Y(w_{li})\;
   \prod_{i\ \mathrm{odd}} \mathrm{CNOT}_{i,i+1} \prod_{i\ \mathrm{even}} \mathrm{CNOT}_{i,i+1}

the CNOT pairs (0,1), (2,3), … then (1,2), (3,4), …; weights ``(depth, n_qubits)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from .registry import register_circuit


@register_circuit(
    "dressed",
    "ansatz",
    shape=lambda n, depth: (depth, n),
    layered=True,
    source="Mari et al. 2020",
)
def dressed(weights: Any, wires: Sequence[int]) -> None:
    """depth x [CNOT on even then odd neighbour pairs, RY(w) on every qubit]."""
    n = len(wires)
    for layer in range(qml.math.shape(weights)[-2]):
        for start in (0, 1):
            for i in range(start, n - 1, 2):
                qml.CNOT(wires=[wires[i], wires[i + 1]])
        for i, w in enumerate(wires):
            qml.RY(weights[..., layer, i], wires=w)

r"""Strongly entangling layers (Schuld, Bocharov, Svore & Wiebe, PRA 101, 032308 (2020)).

Each of the L layers applies a general rotation to every qubit, then a ring of CNOTs whose range
grows with the layer index (PennyLane's default ``r = l mod n + 1``):

.. math:: U_l = \prod_{i} \mathrm{CNOT}_{i,\,(i+r)\bmod n}\;
   \bigotimes_i \mathrm{Rot}(\phi_{li}, \theta_{li}, \omega_{li}),
   \qquad \mathrm{Rot} = R_Z(\omega) R_Y(\theta) R_Z(\phi)

Weights: ``(depth, n_qubits, 3)``. HQNN-Parallel (S1) uses 3 layers on each of 4 circuits of 5
qubits: 3·5·3 = 45 weights per circuit, 180 in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from .registry import register_circuit


@register_circuit(
    "strongly_entangling",
    "ansatz",
    shape=lambda n, depth: (depth, n, 3),
    layered=True,
    source="Schuld et al. 2020; S1 (Senokosov et al. 2024)",
)
def strongly_entangling(weights: Any, wires: Sequence[int], ranges: Sequence[int] | None = None):
    """depth x [Rot on every qubit, CNOT ring of growing range]."""
    qml.StronglyEntanglingLayers(weights, wires=wires, ranges=ranges)

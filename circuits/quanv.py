r"""Quanvolution circuits: what runs on every image patch of a quantum convolution.

``quanv_block`` is the small trainable block of HQNN-Quanv (S2, Senokosov et al. 2024; the layer
details are from reimplementations, unverified): on the patch qubits, per layer

.. math:: U_l = \bigotimes_i R_Y(w_{l1i})\;\prod_{i} \mathrm{CNOT}_{i,i+1}\;
   \bigotimes_i R_X(w_{l0i})

i.e. RX on every qubit, a CNOT chain, RY on every qubit; weights ``(depth, 2, n_qubits)``
(8 on S2's 4 qubits at depth 1). With RY(π·x) angle encoding of a 2x2 patch and ⟨Z⟩ on 4 qubits
it gives 4 output channels.

``random_layer`` is Henderson et al.'s quanvolutional filter ("Quanvolutional neural networks",
2019; PennyLane's demo): PennyLane's ``RandomLayers``, ``depth`` layers of ``n_qubits`` random
rotations (RX/RY/RZ) interleaved with CNOTs at ratio ``ratio_imprim``; the gate structure is fixed
by ``seed`` and, in the original, the weights are random and not trained
(``Quanv2d(trainable=False)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from .registry import register_circuit


@register_circuit(
    "quanv_block",
    "ansatz",
    shape=lambda n, depth: (depth, 2, n),
    layered=True,
    source="S2 (Senokosov et al. 2024) [reimpl, unverified]",
)
def quanv_block(weights: Any, wires: Sequence[int]) -> None:
    """depth x [RX(w) on every qubit, CNOT chain, RY(w) on every qubit] (S2's trainable block)."""
    for layer in range(qml.math.shape(weights)[-3]):
        for i, w in enumerate(wires):
            qml.RX(weights[..., layer, 0, i], wires=w)
        for i in range(len(wires) - 1):
            qml.CNOT(wires=[wires[i], wires[i + 1]])
        for i, w in enumerate(wires):
            qml.RY(weights[..., layer, 1, i], wires=w)


@register_circuit(
    "random_layer",
    "ansatz",
    shape=lambda n, depth: (depth, n),
    source="Henderson et al. 2019",
)
def random_layer(
    weights: Any, wires: Sequence[int], seed: int = 42, ratio_imprim: float = 0.3
) -> None:
    """PennyLane RandomLayers: seeded random rotations and CNOTs (Henderson's filter)."""
    qml.RandomLayers(weights, wires=wires, seed=seed, ratio_imprim=ratio_imprim)

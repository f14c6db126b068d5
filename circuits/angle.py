r"""Angle encodings: one feature per qubit as a single-qubit rotation angle.

.. math:: |x\rangle = \bigotimes_{i} R_P(s\,x_i)\,|0\rangle, \qquad P \in \{X, Y, Z\}

Angle-Y encoding of :math:`x` on :math:`|0\rangle` gives :math:`\langle Z\rangle = \cos(s x)`.
HQNN-Parallel (S1, Senokosov et al. 2024) encodes with RX; HQNN-Quanv (S2) and Henderson et al.'s
quanvolution with RY(π·x); S6 with RY(feature).

``hadamard_angle`` first puts every qubit in :math:`|+\rangle`: :math:`R_P(s x_i) H |0\rangle`,
the encoding of the dressed quantum circuit (Mari et al. 2020) and of S5's QCNN (Li et al. 2025),
both with ``rotation="Y"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from ._common import n_inputs, rotation_gate
from .registry import register_circuit


@register_circuit(
    "angle",
    "encoding",
    n_features=lambda n: n,
    source="S1 (RX), S2/S6 and Henderson et al. 2019 (RY)",
)
def angle(inputs: Any, wires: Sequence[int], rotation: str = "X", scale: float = 1.0) -> None:
    """R_P(scale·x_i) on qubit i; rotation P in X|Y|Z (fewer features than qubits allowed)."""
    gate = rotation_gate(rotation)
    for i in range(n_inputs(inputs, len(wires), "angle encoding")):
        gate(scale * inputs[..., i], wires=wires[i])


@register_circuit(
    "hadamard_angle",
    "encoding",
    n_features=lambda n: n,
    source="Mari et al. 2020 (dressed circuit); S5 (Li et al. 2025)",
)
def hadamard_angle(
    inputs: Any, wires: Sequence[int], rotation: str = "Y", scale: float = 1.0
) -> None:
    """H on every qubit, then R_P(scale·x_i) on qubit i (default RY)."""
    gate = rotation_gate(rotation)
    for w in wires:
        qml.Hadamard(wires=w)
    for i in range(n_inputs(inputs, len(wires), "hadamard_angle encoding")):
        gate(scale * inputs[..., i], wires=wires[i])

r"""Dense angle encoding: two features per qubit.

.. math:: |x\rangle = \bigotimes_{i} R_Z(s\,x_{2i+1})\,R_Y(s\,x_{2i})\,|0\rangle

Twice the features of angle encoding on the same qubits: the first angle sets the polar angle
of qubit i's Bloch vector, the second its azimuth (LaRose & Coyle, "Robust data encodings for
quantum classifiers", PRA 102, 032420 (2020)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from ._common import n_inputs
from .registry import register_circuit


@register_circuit(
    "dense_angle",
    "encoding",
    n_features=lambda n: 2 * n,
    source="LaRose & Coyle 2020",
)
def dense_angle(inputs: Any, wires: Sequence[int], scale: float = 1.0) -> None:
    """RY(scale·x_2i) then RZ(scale·x_2i+1) on qubit i: two features per qubit."""
    n = n_inputs(inputs, 2 * len(wires), "dense_angle encoding")
    for i in range(n):
        gate = qml.RY if i % 2 == 0 else qml.RZ
        gate(scale * inputs[..., i], wires=wires[i // 2])

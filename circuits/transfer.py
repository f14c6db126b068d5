r"""The H + CNOT cascade of S6 ("Quantum Transfer Learning for MNIST Classification", 2024).

After RY(feature) angle encoding of 5 features, the circuit applies a Hadamard to every qubit and
a CNOT cascade :math:`\mathrm{CNOT}_{0,1}\mathrm{CNOT}_{1,2}\cdots\mathrm{CNOT}_{n-2,n-1}`, then
reads out all :math:`2^n` probabilities:

.. math:: |\psi(x)\rangle = \Big(\prod_{i=n-2}^{0} \mathrm{CNOT}_{i,i+1}\Big)
   H^{\otimes n} \bigotimes_i R_Y(x_i)|0\rangle

It has no trainable weights: everything learned is classical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from .registry import register_circuit


@register_circuit("transfer_cascade", "ansatz", min_qubits=2, source="S6 (2024)")
def transfer_cascade(weights: Any, wires: Sequence[int]) -> None:
    """H on every qubit, then CNOT cascade i→i+1; no weights."""
    for w in wires:
        qml.Hadamard(wires=w)
    for i in range(len(wires) - 1):
        qml.CNOT(wires=[wires[i], wires[i + 1]])

r"""Amplitude encoding: :math:`2^n` features as the amplitudes of an n-qubit state.

.. math:: |x\rangle = \frac{1}{\lVert \tilde x \rVert} \sum_{k=0}^{2^n-1} \tilde x_k\,|k\rangle,
   \qquad \tilde x = (x_0, \dots, x_{m-1}, 0, \dots, 0)

Inputs with fewer than :math:`2^n` features are zero-padded, then normalised (wire 0 is the most
significant bit of :math:`k`). S3 (2025) encodes the normalised 16-d CNN feature on 4 qubits this
way. An all-zero input has no direction and is rejected by PennyLane.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from ._common import n_inputs
from .registry import register_circuit


@register_circuit(
    "amplitude",
    "encoding",
    n_features=lambda n: 2**n,
    source="S3 (Hybrid quantum-classical model, 2025)",
)
def amplitude(inputs: Any, wires: Sequence[int], pad_with: float = 0.0) -> None:
    """Normalised, zero-padded inputs as the 2^n state amplitudes."""
    n_inputs(inputs, 2 ** len(wires), "amplitude encoding")
    qml.AmplitudeEmbedding(inputs, wires=wires, normalize=True, pad_with=pad_with)

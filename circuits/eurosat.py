r"""The circuit families compared on EuroSAT (S4: Sebastianelli et al., IEEE JSTARS 15, 2022).

All three start from :math:`H^{\otimes n}|0\rangle` (Bell: from :math:`H_0`) and, in the original,
take their angles from the preceding linear layer (use ``encoding=None`` in ``build_qnode`` to
feed inputs as the angles); 4 qubits, probabilities of all 16 bitstrings read out.

- ``eurosat_ry`` (no entanglement): :math:`\bigotimes_i R_Y(\theta_i) H`, weights ``(n,)``.
- ``eurosat_real_amplitudes`` (full entanglement): H on all, :math:`R_Y(\theta_{0,i})`, then per
  repetition the CNOTs :math:`c \to t` for every target t and every control c > t in the order
  1→0, 2→0, 3→0, 2→1, 3→1, 3→2, followed by :math:`R_Y(\theta_{r,i})`; weights
  ``(depth + 1, n)``: 8 at the paper's depth 1 on 4 qubits.
- ``eurosat_bell``: H(0), CNOT chain 0→1→…→n-1, :math:`R_Y(\theta_i)` on all, the chain
  reversed, H(0); weights ``(n,)``.

``depth`` applies to ``eurosat_real_amplitudes`` only (its ``reps``); the other two have one layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from .registry import register_circuit

SOURCE = "S4 (Sebastianelli et al. 2022)"


@register_circuit("eurosat_ry", "ansatz", shape=lambda n, depth: (n,), source=SOURCE)
def eurosat_ry(weights: Any, wires: Sequence[int]) -> None:
    """H then RY(θ_i) on every qubit; no entanglement (S4's "Ry")."""
    for i, w in enumerate(wires):
        qml.Hadamard(wires=w)
        qml.RY(weights[..., i], wires=w)


def full_cnots(wires: Sequence[int]) -> None:
    """CNOT c→t for every target t and every control c > t: 1→0, 2→0, 3→0, 2→1, 3→1, 3→2."""
    for t in range(len(wires)):
        for c in range(t + 1, len(wires)):
            qml.CNOT(wires=[wires[c], wires[t]])


@register_circuit(
    "eurosat_real_amplitudes",
    "ansatz",
    shape=lambda n, depth: (depth + 1, n),
    min_qubits=2,
    source=SOURCE,
)
def eurosat_real_amplitudes(weights: Any, wires: Sequence[int]) -> None:
    """H, RY(θ_0), then reps x [full CNOTs, RY(θ_r)] (S4's "RealAmplitudes")."""
    for w in wires:
        qml.Hadamard(wires=w)
    reps = qml.math.shape(weights)[-2]
    for r in range(reps):
        if r:
            full_cnots(wires)
        for i, w in enumerate(wires):
            qml.RY(weights[..., r, i], wires=w)


@register_circuit(
    "eurosat_bell", "ansatz", shape=lambda n, depth: (n,), min_qubits=2, source=SOURCE
)
def eurosat_bell(weights: Any, wires: Sequence[int]) -> None:
    """H(0), CNOT chain, RY(θ_i) on all, chain reversed, H(0) (S4's "Bell")."""
    chain = [(wires[i], wires[i + 1]) for i in range(len(wires) - 1)]
    qml.Hadamard(wires=wires[0])
    for c, t in chain:
        qml.CNOT(wires=[c, t])
    for i, w in enumerate(wires):
        qml.RY(weights[..., i], wires=w)
    for c, t in reversed(chain):
        qml.CNOT(wires=[c, t])
    qml.Hadamard(wires=wires[0])

r"""QCNN blocks: a two-qubit convolution unit, a pooling unit, and their stack.

Convolution unit of S5 (Li et al. 2025, distributed hybrid QCNN), 5 weights on qubits (a, b):

.. math:: U(w) = \mathrm{CRZ}_{b\to a}(w_4)\,R_Y^{(b)}(w_3)\,\mathrm{CNOT}_{a\to b}\,
   R_Y^{(a)}(w_2)\,\mathrm{CRZ}_{a\to b}(w_1)\,R_Z^{(a)}(w_0)

(gate order RZ, CRZ, RY, CNOT, RY, CRZ from the authors' logs; which wire each gate acts on is
our choice, papers.md does not record it). ``qcnn_conv`` applies the unit as a staircase over
neighbours (0,1), (1,2), …, (n-2, n-1), the same 5 weights for every pair, once per layer:
weights ``(depth, 5)``.

Pooling (Cong, Choi & Lukin, Nat. Phys. 15, 1273 (2019)): on pairs (source, sink) of
neighbouring active qubits, :math:`\mathrm{CRX}_{s\to t}(p_1)\,X_s\,\mathrm{CRZ}_{s\to t}(p_0)`;
the source is then ignored, halving the active qubits. ``qcnn_pool`` pools once: weights ``(2,)``,
the sinks (odd positions) stay active.

``qcnn`` stacks ``depth`` levels of [convolution staircase on the active qubits, pooling]:
weights ``(depth, 7)``; it needs ``n_qubits >= 2**depth``. :func:`qcnn_readout` names the
qubits left active (measure those).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pennylane as qml

from .registry import register_circuit

SOURCE = "S5 (Li et al. 2025); Cong et al. 2019"


def conv_unit(w: Sequence[Any], a: int, b: int) -> None:
    """S5's 5-weight two-qubit convolution unit on (a, b)."""
    qml.RZ(w[0], wires=a)
    qml.CRZ(w[1], wires=[a, b])
    qml.RY(w[2], wires=a)
    qml.CNOT(wires=[a, b])
    qml.RY(w[3], wires=b)
    qml.CRZ(w[4], wires=[b, a])


def pool_unit(p: Sequence[Any], source: int, sink: int) -> None:
    """Controlled rotations from the discarded source into the kept sink."""
    qml.CRZ(p[0], wires=[source, sink])
    qml.PauliX(wires=source)
    qml.CRX(p[1], wires=[source, sink])


def staircase(w: Sequence[Any], wires: Sequence[int]) -> None:
    for i in range(len(wires) - 1):
        conv_unit(w, wires[i], wires[i + 1])


def pool(p: Sequence[Any], wires: Sequence[int]) -> list[int]:
    """Pool neighbouring pairs; return the wires still active (sinks, plus an odd last wire)."""
    for k in range(len(wires) // 2):
        pool_unit(p, wires[2 * k], wires[2 * k + 1])
    return list(wires[1::2]) + ([wires[-1]] if len(wires) % 2 else [])


def qcnn_readout(wires: Sequence[int], depth: int) -> list[int]:
    """The wires still active after ``depth`` pooling levels (no gates are queued)."""
    active = list(wires)
    for _ in range(depth):
        active = list(active[1::2]) + ([active[-1]] if len(active) % 2 else [])
    return active


@register_circuit(
    "qcnn_conv",
    "ansatz",
    shape=lambda n, depth: (depth, 5),
    min_qubits=2,
    layered=True,
    source=SOURCE,
)
def qcnn_conv(weights: Any, wires: Sequence[int]) -> None:
    """depth x staircase of S5's 5-weight 2-qubit unit (weights shared across pairs)."""
    for layer in range(qml.math.shape(weights)[-2]):
        staircase([weights[..., layer, k] for k in range(5)], wires)


@register_circuit("qcnn_pool", "ansatz", shape=lambda n, depth: (2,), min_qubits=2, source=SOURCE)
def qcnn_pool(weights: Any, wires: Sequence[int]) -> None:
    """One pooling level: CRZ, X, CRX from each even-position qubit into its odd neighbour."""
    pool([weights[..., k] for k in range(2)], wires)


@register_circuit(
    "qcnn",
    "ansatz",
    shape=lambda n, depth: (depth, 7),
    min_qubits=lambda depth: 2**depth,
    source=SOURCE,
)
def qcnn(weights: Any, wires: Sequence[int]) -> None:
    """depth x [conv staircase on the active qubits, pooling]; read out ``qcnn_readout``."""
    levels = qml.math.shape(weights)[-2]
    if len(wires) < 2**levels:
        raise ValueError(
            f"qcnn with {levels} levels (depth) needs at least {2**levels} qubits, got {len(wires)}"
        )
    active = list(wires)
    for level in range(levels):
        staircase([weights[..., level, k] for k in range(5)], active)
        active = pool([weights[..., level, k] for k in range(5, 7)], active)

"""A quantum convolutional neural network: convolution + pooling down to the readout qubits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from qclf.circuits import build_qnode, n_inputs, n_outputs, qcnn_readout
from qclf.layers.base import QuantumLayer, check_last_dim
from qclf.layers.twins import matched_mlp, output_activation
from qclf.quantum import TorchLayer


def levels_to_readout(n_qubits: int, n_readout: int) -> int:
    """Pooling levels that take ``n_qubits`` active qubits down to at most ``n_readout``."""
    if not 1 <= n_readout < n_qubits:
        raise ValueError(f"n_readout must be in [1, n_qubits), got {n_readout} of {n_qubits}")
    levels = 0
    while len(qcnn_readout(range(n_qubits), levels)) > n_readout:
        levels += 1
    return levels


class QCNN(QuantumLayer):
    """QCNN (Cong et al. 2019; S5's convolution unit): encode, then [conv staircase, pool] levels.

    Each level applies S5's 5-weight two-qubit unit as a staircase over the active qubits
    (weights shared within the level) and pools neighbouring pairs (2 weights), halving the
    active qubits, until at most ``n_readout`` remain; those are measured. Catalogue ansatz
    ``qcnn`` with ``depth`` = number of levels: ``7 · levels`` weights.

    Args:
        n_qubits: qubits (8 in S5).
        n_readout: qubits left to measure.
        encoding, encoding_kw, measurement: as :func:`circuits.build_qnode` (S5: H then
            RY(feature), the default ``hadamard_angle``).

    Shape:
        ``(..., in_features)`` → ``(..., out_features)``; ``in_features`` is what the encoding
        takes on ``n_qubits`` (``n_qubits`` for angle encodings), ``out_features`` the readout
        size (``len(readout_wires)`` for Z/X/Y, ``2**len(readout_wires)`` for ``"probs"``).
    """

    def __init__(
        self,
        n_qubits: int,
        n_readout: int = 1,
        *,
        encoding: str = "hadamard_angle",
        encoding_kw: dict[str, Any] | None = None,
        measurement: str | Sequence[str] = "Z",
    ) -> None:
        super().__init__()
        self.n_qubits, self.measurement = n_qubits, measurement
        self.levels = levels_to_readout(n_qubits, n_readout)
        self.readout_wires = qcnn_readout(range(n_qubits), self.levels)
        self.in_features = n_inputs(n_qubits, encoding, "qcnn", self.levels)
        self.out_features = n_outputs(measurement, len(self.readout_wires))
        qnode, weight_shapes = build_qnode(
            n_qubits,
            encoding,
            "qcnn",
            self.levels,
            measurement,
            encoding_kw=encoding_kw,
            measure_wires=self.readout_wires,
        )
        self.circuit = TorchLayer(qnode, weight_shapes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.in_features, type(self).__name__)
        out = self.circuit(x.reshape(-1, self.in_features))
        return out.reshape(*x.shape[:-1], self.out_features)

    def classical_twin(self) -> nn.Module:
        """An MLP ``in -> hidden -> out`` with ≈ the circuit's weights."""
        return matched_mlp(
            self.in_features,
            self.out_features,
            self.n_quantum_params,
            output_activation(self.measurement),
        )

    def extra_repr(self) -> str:
        return (
            f"n_qubits={self.n_qubits}, levels={self.levels}, readout={self.readout_wires}, "
            f"in_features={self.in_features}, out_features={self.out_features}"
        )

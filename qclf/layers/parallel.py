"""Several small circuits side by side on chunks of one feature vector (HQNN-Parallel, S1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from qclf.circuits import build_qnode, n_inputs, n_outputs
from qclf.layers.base import QuantumLayer, check_last_dim
from qclf.layers.twins import ChunkwiseMLP, output_activation
from qclf.quantum import TorchLayer


class ParallelCircuits(QuantumLayer):
    """Split ``in_features`` into ``n_circuits`` contiguous chunks, one circuit each, concatenate.

    Senokosov et al. (2024)'s HQNN-Parallel: ``ParallelCircuits(20, 4, 5, "strongly_entangling",
    3, encoding="angle", encoding_kw={"rotation": "X"}, measurement="Y")`` maps 20 features
    through 4 five-qubit circuits with separate weights (4·45 = 180) to 20 outputs.

    Args:
        in_features: input size; divisible by ``n_circuits``, each chunk at most what the
            encoding takes on ``n_qubits`` qubits.
        n_circuits: number of circuits (each with its own weights).
        n_qubits: qubits per circuit.
        ansatz, depth: catalogue ansatz name and depth.
        encoding, encoding_kw, ansatz_kw, measurement, reupload: as in
            :func:`circuits.build_qnode`.

    Shape:
        input ``(..., in_features)`` → output ``(..., out_features)`` with
        ``out_features = n_circuits * outputs per circuit`` (``n_qubits`` for Z/X/Y).
    """

    def __init__(
        self,
        in_features: int,
        n_circuits: int,
        n_qubits: int,
        ansatz: str | None = "strongly_entangling",
        depth: int = 1,
        *,
        encoding: str | None = "angle",
        encoding_kw: dict[str, Any] | None = None,
        ansatz_kw: dict[str, Any] | None = None,
        measurement: str | Sequence[str] = "Z",
        reupload: bool = False,
    ) -> None:
        super().__init__()
        if n_circuits < 1 or in_features % n_circuits:
            raise ValueError(
                f"in_features={in_features} must split evenly over n_circuits={n_circuits}"
            )
        self.in_features, self.n_circuits, self.n_qubits = in_features, n_circuits, n_qubits
        self.chunk = in_features // n_circuits
        capacity = n_inputs(n_qubits, encoding, ansatz, depth)
        if self.chunk > capacity or (encoding is None and self.chunk != capacity):
            raise ValueError(
                f"each circuit gets {self.chunk} features but {encoding or ansatz!r} on "
                f"{n_qubits} qubits takes {'at most ' if encoding else ''}{capacity}; change "
                f"in_features, n_circuits or n_qubits"
            )
        self.measurement = measurement
        self.out_per_circuit = n_outputs(measurement, n_qubits)
        self.out_features = n_circuits * self.out_per_circuit
        self.circuits = nn.ModuleList(
            TorchLayer(
                *build_qnode(
                    n_qubits,
                    encoding,
                    ansatz,
                    depth,
                    measurement,
                    encoding_kw=encoding_kw,
                    ansatz_kw=ansatz_kw,
                    reupload=reupload,
                )
            )
            for _ in range(n_circuits)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.in_features, type(self).__name__)
        lead = x.shape[:-1]
        chunks = x.reshape(-1, self.n_circuits, self.chunk)
        out = torch.cat([c(chunks[:, i]) for i, c in enumerate(self.circuits)], dim=-1)
        return out.reshape(*lead, self.out_features)

    def classical_twin(self) -> nn.Module:
        """Per-chunk ``Linear -> tanh -> Linear -> tanh`` maps with matched parameters."""
        return ChunkwiseMLP(
            self.n_circuits,
            self.chunk,
            self.out_per_circuit,
            self.n_quantum_params,
            output_activation(self.measurement),
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, n_circuits={self.n_circuits}, "
            f"n_qubits={self.n_qubits}, out_features={self.out_features}"
        )

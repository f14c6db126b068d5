"""The dressed quantum circuit (Mari et al. 2020): Linear → circuit → Linear."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from qclf.circuits import build_qnode, n_inputs, n_outputs
from qclf.layers.base import QuantumLayer, check_last_dim
from qclf.layers.twins import matched_mlp
from qclf.quantum import TorchLayer


class DressedCircuit(QuantumLayer):
    """``Linear(in, n) → tanh·π/2 → circuit → Linear(n_out, out)``.

    Mari et al.'s dressed circuit: the classical maps adapt any feature size to the circuit
    and its readout to any output size; the tanh·π/2 squashing keeps the encoding angles in
    [-π/2, π/2]. Defaults are the paper's circuit: H and RY(x) (``hadamard_angle``), ``depth``
    layers of CNOT pairs + RY(w) (``dressed``), ⟨Z⟩ on every qubit.

    Args:
        in_features, out_features: classical sizes.
        n_qubits, depth: circuit size (paper: 4 qubits, depth 6).
        ansatz, encoding, encoding_kw, ansatz_kw, measurement, reupload: as
            :func:`circuits.build_qnode`.
        input_scale: the factor after tanh (π/2).

    Shape:
        ``(..., in_features)`` → ``(..., out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_qubits: int = 4,
        depth: int = 6,
        *,
        ansatz: str | None = "dressed",
        encoding: str = "hadamard_angle",
        encoding_kw: dict[str, Any] | None = None,
        ansatz_kw: dict[str, Any] | None = None,
        measurement: str | Sequence[str] = "Z",
        reupload: bool = False,
        input_scale: float = math.pi / 2,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.input_scale = input_scale
        n_encoded = n_inputs(n_qubits, encoding, ansatz, depth)
        self.pre = nn.Linear(in_features, n_encoded)
        qnode, weight_shapes = build_qnode(
            n_qubits,
            encoding,
            ansatz,
            depth,
            measurement,
            encoding_kw=encoding_kw,
            ansatz_kw=ansatz_kw,
            reupload=reupload,
        )
        self.circuit = TorchLayer(qnode, weight_shapes)
        self.post = nn.Linear(n_outputs(measurement, n_qubits), out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.in_features, type(self).__name__)
        angles = torch.tanh(self.pre(x.reshape(-1, self.in_features))) * self.input_scale
        out = self.post(self.circuit(angles))
        return out.reshape(*x.shape[:-1], self.out_features)

    def classical_twin(self) -> nn.Module:
        """``Linear → tanh → Linear`` with ≈ all of this layer's trainable parameters."""
        return matched_mlp(self.in_features, self.out_features, self.n_params, nn.Identity())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"

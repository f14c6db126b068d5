"""S4 circuit families on EuroSAT (Sebastianelli et al., IEEE JSTARS 15, 2022) and their twins.

Backbone (shared): three ``Conv(k5) -> MaxPool(2) -> ReLU`` stages (3 -> 16 -> 32 -> 64 channels,
no padding, as in the authors' code as we read it) -> flatten (1024 on 64x64 EuroSAT) ->
``Linear(-> n_angles)`` -> ``pi * tanh``: the circuit's angles come from this layer.

Block: hybrid, a 4-qubit catalogue circuit (``eurosat_ry``, ``eurosat_real_amplitudes`` or
``eurosat_bell``) fed the angles directly (no separate encoding, no trainable circuit weights)
and read out as the probabilities of all 16 bitstrings; twin, ``Linear(n_angles -> 16) ->
softmax``, a classical map from the same angles to a 16-outcome distribution. The circuit has no
weights of its own, so the twin adds 64 (Ry, Bell) or 128 (RealAmplitudes) weights: +0.1% / +0.2%
of the model, well inside the 10% match.

Head (shared): ``Linear(16, classes)``.

Registered: ``eurosat_hybrid(circuit=...)`` (any family, any config), the presets
``eurosat_ry``, ``eurosat_realamplitudes``, ``eurosat_bell``, and the twins
``eurosat_classical(circuit=...)`` (4 angles by default) and
``eurosat_classical_realamplitudes`` (8 angles). The original simulated 800 shots with
parameter-shift gradients; qclf uses exact probabilities and backprop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from qclf.circuits import get_circuit
from qclf.layers import ParallelCircuits
from qclf.models.base import BlockClassifier, InputShapeError, flat_size
from qclf.models.registry import register_model

PAPER = "S4"
# Config names (the paper's) -> catalogue ansatz names.
CIRCUITS = {
    "ry": "eurosat_ry",
    "realamplitudes": "eurosat_real_amplitudes",
    "real_amplitudes": "eurosat_real_amplitudes",
    "bell": "eurosat_bell",
}


def resolve_circuit(circuit: str) -> str:
    key = circuit.lower().replace("-", "_")
    if key in CIRCUITS:
        return CIRCUITS[key]
    if key.startswith("eurosat_") and key in CIRCUITS.values():
        return key
    raise ValueError(f"S4 circuit must be one of {sorted(set(CIRCUITS))} (or its catalogue name "
                     f"{sorted(set(CIRCUITS.values()))}), got {circuit!r}")


def n_angles(circuit: str, n_qubits: int = 4, depth: int = 1) -> int:
    """Angles the circuit takes: 4 for Ry and Bell, 8 for RealAmplitudes on 4 qubits."""
    return get_circuit(resolve_circuit(circuit), "ansatz").n_weights(n_qubits, depth)


class ScaledTanh(nn.Module):
    """``scale * tanh(x)``: keeps the angles in (-scale, scale)."""

    def __init__(self, scale: float = math.pi) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.tanh(x)


def eurosat_backbone(input_shape: tuple[int, int, int], out_features: int,
                     channels: Sequence[int], kernel: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    c, (h, w) = input_shape[0], input_shape[1:]
    for c_out in channels:
        h, w = (h - kernel + 1) // 2, (w - kernel + 1) // 2
        if h < 1 or w < 1:
            raise InputShapeError(
                f"S4's backbone ({len(channels)} x conv k{kernel} + pool 2) leaves nothing of "
                f"input_shape {tuple(input_shape)}; use larger images (EuroSAT is 3x64x64)")
        layers += [nn.Conv2d(c, c_out, kernel), nn.MaxPool2d(2), nn.ReLU()]
        c = c_out
    trunk = nn.Sequential(*layers, nn.Flatten())
    return nn.Sequential(*trunk, nn.Linear(flat_size(trunk, input_shape), out_features),
                         ScaledTanh(math.pi))


def _build(num_classes: int, input_shape: tuple[int, int, int], quantum: bool, circuit: str,
           n_qubits: int, depth: int, channels: Sequence[int], kernel: int) -> BlockClassifier:
    ansatz = resolve_circuit(circuit)
    k = n_angles(ansatz, n_qubits, depth)
    backbone = eurosat_backbone(input_shape, k, channels, kernel)
    n_out = 2**n_qubits
    if quantum:
        block: nn.Module = ParallelCircuits(k, 1, n_qubits, ansatz, depth, encoding=None,
                                            measurement="probs")
    else:
        block = nn.Sequential(nn.Linear(k, n_out), nn.Softmax(dim=-1))
    return BlockClassifier(input_shape, num_classes, backbone, block,
                           nn.Linear(n_out, num_classes))


@register_model("eurosat_hybrid", paper=PAPER, kind="hybrid", twin="eurosat_classical")
def eurosat_hybrid(num_classes: int, input_shape: tuple[int, int, int], circuit: str = "ry",
                   n_qubits: int = 4, depth: int = 1, channels: Sequence[int] = (16, 32, 64),
                   kernel: int = 5) -> BlockClassifier:
    """S4 hybrid: CNN -> angles -> a 4-qubit circuit family -> 16 probabilities -> Linear."""
    return _build(num_classes, input_shape, True, circuit, n_qubits, depth, channels, kernel)


@register_model("eurosat_classical", paper=PAPER, kind="classical", twin_of="eurosat_hybrid")
def eurosat_classical(num_classes: int, input_shape: tuple[int, int, int], circuit: str = "ry",
                      n_qubits: int = 4, depth: int = 1, channels: Sequence[int] = (16, 32, 64),
                      kernel: int = 5) -> BlockClassifier:
    """S4 twin: the same CNN and head; angles -> Linear -> softmax over 16 outcomes."""
    return _build(num_classes, input_shape, False, circuit, n_qubits, depth, channels, kernel)


@register_model("eurosat_ry", paper=PAPER, kind="hybrid", twin="eurosat_classical")
def eurosat_ry(num_classes: int, input_shape: tuple[int, int, int],
               channels: Sequence[int] = (16, 32, 64), kernel: int = 5) -> BlockClassifier:
    """S4 "Ry": H and RY on every qubit, no entanglement (4 angles)."""
    return _build(num_classes, input_shape, True, "ry", 4, 1, channels, kernel)


@register_model("eurosat_bell", paper=PAPER, kind="hybrid", twin="eurosat_classical")
def eurosat_bell(num_classes: int, input_shape: tuple[int, int, int],
                 channels: Sequence[int] = (16, 32, 64), kernel: int = 5) -> BlockClassifier:
    """S4 "Bell": H(0), CNOT chain, RY on all, chain reversed, H(0) (4 angles)."""
    return _build(num_classes, input_shape, True, "bell", 4, 1, channels, kernel)


@register_model("eurosat_realamplitudes", paper=PAPER, kind="hybrid",
                twin="eurosat_classical_realamplitudes")
def eurosat_realamplitudes(num_classes: int, input_shape: tuple[int, int, int],
                           channels: Sequence[int] = (16, 32, 64),
                           kernel: int = 5) -> BlockClassifier:
    """S4 "RealAmplitudes": H, RY, full CNOTs, RY (8 angles; full entanglement)."""
    return _build(num_classes, input_shape, True, "realamplitudes", 4, 1, channels, kernel)


@register_model("eurosat_classical_realamplitudes", paper=PAPER, kind="classical",
                twin_of="eurosat_realamplitudes")
def eurosat_classical_realamplitudes(num_classes: int, input_shape: tuple[int, int, int],
                                     channels: Sequence[int] = (16, 32, 64),
                                     kernel: int = 5) -> BlockClassifier:
    """Twin of S4 "RealAmplitudes": 8 angles -> Linear -> softmax over 16 outcomes."""
    return _build(num_classes, input_shape, False, "realamplitudes", 4, 1, channels, kernel)

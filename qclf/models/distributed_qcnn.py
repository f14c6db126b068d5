"""S5 distributed hybrid QCNN (Li et al. 2025) and its classical twin.

CNN backbone -> Linear(flat -> 8) -> 8-qubit QCNN cut once on the 4th logical qubit
(:class:`~qclf.layers.wire_cut.WireCut` through :mod:`qclf.cutting`: a 4-qubit and a 5-qubit
fragment, 7 fragment circuits per sample, recombined exactly) -> 32-outcome distribution ->
Linear(32 -> classes). Per qubit H then RY(feature); one staircase of S5's 5-weight two-qubit
convolution unit per fragment (weights shared within a fragment): 10 quantum weights.
``cut=False`` simulates the uncut 8-qubit circuit (same output, tested).

The twin replaces the circuit by :class:`~qclf.layers.wire_cut.GainTwin` (10 trainable weights,
a fixed random map to 32 probabilities scaled to mean 1), same backbone and head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from qclf.layers.wire_cut import WireCut
from qclf.models.backbones import conv_backbone
from qclf.models.base import BlockClassifier, flat_size
from qclf.models.registry import register_model


def _build(num_classes: int, input_shape: tuple[int, int, int], quantum: bool, n_qubits: int,
           cut_qubit: int, depth: int, ansatz: str, encoding: str, rotation: str,
           measurement: str, cut: bool, channels: Sequence[int], kernel: int,
           ansatz_kw: dict[str, Any] | None) -> BlockClassifier:
    backbone = conv_backbone(input_shape[0], channels, kernel=kernel)
    backbone.append(nn.Linear(flat_size(backbone, input_shape), n_qubits))
    block: nn.Module = WireCut(n_qubits, cut_qubit, encoding=encoding,
                               encoding_kw={"rotation": rotation}, ansatz=ansatz,
                               ansatz_kw=ansatz_kw, depth=depth, measurement=measurement, cut=cut)
    width = block.out_features
    if not quantum:
        block = block.classical_twin()
    return BlockClassifier(input_shape, num_classes, backbone, block, nn.Linear(width, num_classes))




@register_model("distributed_qcnn", paper="S5", kind="hybrid", twin="classical_distributed_qcnn")
def distributed_qcnn(num_classes: int, input_shape: tuple[int, int, int], n_qubits: int = 8,
                     cut_qubit: int = 3, depth: int = 1, ansatz: str = "qcnn_conv",
                     encoding: str = "hadamard_angle", rotation: str = "Y",
                     measurement: str = "probs", cut: bool = True,
                     channels: Sequence[int] = (16, 32), kernel: int = 3,
                     ansatz_kw: dict[str, Any] | None = None) -> BlockClassifier:
    """Distributed QCNN: 8-qubit QCNN run as a 4-qubit and a 5-qubit fragment (S5)."""
    return _build(num_classes, input_shape, True, n_qubits, cut_qubit, depth, ansatz, encoding,
                  rotation, measurement, cut, channels, kernel, ansatz_kw)


@register_model("classical_distributed_qcnn", paper="S5", kind="classical",
                twin_of="distributed_qcnn")
def classical_distributed_qcnn(num_classes: int, input_shape: tuple[int, int, int],
                               n_qubits: int = 8, cut_qubit: int = 3, depth: int = 1,
                               ansatz: str = "qcnn_conv", encoding: str = "hadamard_angle",
                               rotation: str = "Y", measurement: str = "probs", cut: bool = True,
                               channels: Sequence[int] = (16, 32), kernel: int = 3,
                               ansatz_kw: dict[str, Any] | None = None) -> BlockClassifier:
    """Distributed QCNN's classical twin: same backbone and head, a 10-weight classical block."""
    return _build(num_classes, input_shape, False, n_qubits, cut_qubit, depth, ansatz, encoding,
                  rotation, measurement, cut, channels, kernel, ansatz_kw)

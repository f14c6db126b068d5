"""S1 HQNN-Parallel (Senokosov et al., MLST 5:015040, 2024) and its classical twin.

CNN backbone -> Linear(flat -> n_circuits * n_qubits) -> n_circuits parallel circuits, each
taking a contiguous chunk of the features as RX angles, StronglyEntangling-style layers,
<Y> per qubit -> concat -> Linear(-> classes). On full MNIST this is about 45k parameters,
180 of them quantum (4 circuits x 3 layers x 5 qubits x 3 angles).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from qclf.layers import ParallelCircuits
from qclf.models.backbones import conv_backbone
from qclf.models.base import BlockClassifier, flat_size
from qclf.models.registry import register_model


def _parallel_block(n_circuits: int, n_qubits: int, depth: int, ansatz: str, rotation: str,
                    measurement: str) -> ParallelCircuits:
    width = n_circuits * n_qubits
    return ParallelCircuits(in_features=width, n_circuits=n_circuits, n_qubits=n_qubits,
                            ansatz=ansatz, depth=depth, encoding="angle",
                            encoding_kw={"rotation": rotation}, measurement=measurement)


def _build(num_classes: int, input_shape: tuple[int, int, int], quantum: bool,
           n_circuits: int, n_qubits: int, depth: int, ansatz: str, rotation: str,
           measurement: str, channels: Sequence[int], kernel: int) -> BlockClassifier:
    backbone = conv_backbone(input_shape[0], channels, kernel=kernel)
    width = n_circuits * n_qubits
    backbone.append(nn.Linear(flat_size(backbone, input_shape), width))
    block = _parallel_block(n_circuits, n_qubits, depth, ansatz, rotation, measurement)
    if not quantum:
        block = block.classical_twin()
    return BlockClassifier(input_shape, num_classes, backbone, block, nn.Linear(width, num_classes))


@register_model("hqnn_parallel", paper="S1", kind="hybrid", twin="classical_parallel")
def hqnn_parallel(num_classes: int, input_shape: tuple[int, int, int], n_circuits: int = 4,
                  n_qubits: int = 5, depth: int = 3, ansatz: str = "strongly_entangling",
                  rotation: str = "X", measurement: str = "Y",
                  channels: Sequence[int] = (16, 32), kernel: int = 5) -> BlockClassifier:
    """HQNN-Parallel: CNN features split across parallel few-qubit circuits (S1)."""
    return _build(num_classes, input_shape, True, n_circuits, n_qubits, depth, ansatz, rotation,
                  measurement, channels, kernel)


@register_model("classical_parallel", paper="S1", kind="classical", twin_of="hqnn_parallel")
def classical_parallel(num_classes: int, input_shape: tuple[int, int, int], n_circuits: int = 4,
                       n_qubits: int = 5, depth: int = 3, ansatz: str = "strongly_entangling",
                       rotation: str = "X", measurement: str = "Y",
                       channels: Sequence[int] = (16, 32), kernel: int = 5) -> BlockClassifier:
    """HQNN-Parallel's classical twin: same backbone and head, matched classical block."""
    return _build(num_classes, input_shape, False, n_circuits, n_qubits, depth, ansatz, rotation,
                  measurement, channels, kernel)

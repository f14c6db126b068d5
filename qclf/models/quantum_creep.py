"""S7 "Let the Quantum Creep In" (Wang et al. 2024): three levels of quantum replacement.

* ``creep_l0`` (classical): pad to 32x32 -> Conv(C -> 32, k3) -> Conv(32 -> 16, k3) -> Flatten ->
  Linear(12544 -> classes); no activations, no normalisation (as in the original).
* ``creep_l1``: both convolutions replaced by :class:`~qclf.layers.observable_conv.ObservableConv2d`
  of the same shape (each 3x3 patch per input channel an observable measured on a trained 2-qubit
  state: an exact convolution with quantum-constrained kernels).
* ``creep_l2``: also the linear layer replaced, by
  :class:`~qclf.layers.reupload_linear.ReuploadLinear` (7 qubits, data re-uploading).
* ``creep_l2_twin``: L2 with its quantum linear layer replaced by a classical map of matched
  trainable count (fixed random features + linear), since L2's layer has ~60x fewer weights than
  L0's ``Linear``; its convolutions stay quantum as in L1/L2.

The levels are each other's twins; their parameter counts differ and are reported, not matched
(L1 is within 2% of L0; L2 is ~15x smaller). L2's phase scale defaults to 0.05 (see
:mod:`qclf.layers.reupload_linear`: at scale 1 the layer did not learn). Structure:
``backbone`` = pad + convolutions + flatten, ``block`` = the final linear layer, ``head`` =
identity.
"""

from __future__ import annotations

import torch
from torch import nn

from qclf.layers.observable_conv import ObservableConv2d
from qclf.layers.reupload_linear import ReuploadLinear
from qclf.models.base import BlockClassifier, flat_size
from qclf.models.registry import register_model


class PadTo(nn.Module):
    """Zero-pad images symmetrically to ``size`` x ``size`` (no-op if already that size)."""

    def __init__(self, size: int = 32) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dh, dw = max(0, self.size - x.shape[-2]), max(0, self.size - x.shape[-1])
        if dh == dw == 0:
            return x
        return nn.functional.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


def _build(level: int, num_classes: int, input_shape: tuple[int, int, int],
           channels: tuple[int, int], pad_to: int, conv_qubits: int, conv_ansatz: str,
           conv_depth: int, linear_qubits: int, linear_depth: int, linear_scale: float,
           twin_linear: bool = False) -> BlockClassifier:
    c1, c2 = channels
    c_in = input_shape[0]
    if level == 0:
        convs = [nn.Conv2d(c_in, c1, 3), nn.Conv2d(c1, c2, 3)]
    else:
        kw = dict(n_qubits=conv_qubits, ansatz=conv_ansatz, depth=conv_depth)
        convs = [ObservableConv2d(c_in, c1, 3, **kw), ObservableConv2d(c1, c2, 3, **kw)]
    backbone = nn.Sequential(PadTo(pad_to), *convs, nn.Flatten())
    n = flat_size(backbone, input_shape)
    block: nn.Module
    if level < 2:
        block = nn.Linear(n, num_classes)
    else:
        block = ReuploadLinear(n, num_classes, linear_qubits, linear_depth, linear_scale)
        if twin_linear:
            block = block.classical_twin()
    return BlockClassifier(input_shape, num_classes, backbone, block, nn.Identity())


@register_model("creep_l0", paper="S7", kind="classical", twin_of="creep_l1")
def creep_l0(num_classes: int, input_shape: tuple[int, int, int],
             channels: tuple[int, int] = (32, 16), pad_to: int = 32) -> BlockClassifier:
    """S7 level 0: two activation-free convolutions and a linear layer (classical)."""
    return _build(0, num_classes, input_shape, tuple(channels), pad_to, 2, "strongly_entangling",
                  2, 7, 1, 1.0)


@register_model("creep_l1", paper="S7", kind="hybrid", twin="creep_l0")
def creep_l1(num_classes: int, input_shape: tuple[int, int, int],
             channels: tuple[int, int] = (32, 16), pad_to: int = 32, conv_qubits: int = 2,
             conv_ansatz: str = "strongly_entangling", conv_depth: int = 2) -> BlockClassifier:
    """S7 level 1: both convolutions quantum (Pauli expectations of trained 2-qubit states)."""
    return _build(1, num_classes, input_shape, tuple(channels), pad_to, conv_qubits, conv_ansatz,
                  conv_depth, 7, 1, 1.0)


@register_model("creep_l2", paper="S7", kind="hybrid", twin="creep_l2_twin")
def creep_l2(num_classes: int, input_shape: tuple[int, int, int],
             channels: tuple[int, int] = (32, 16), pad_to: int = 32, conv_qubits: int = 2,
             conv_ansatz: str = "strongly_entangling", conv_depth: int = 2,
             linear_qubits: int = 7, linear_depth: int = 1,
             linear_scale: float = 0.05) -> BlockClassifier:
    """S7 level 2: quantum convolutions and a 7-qubit data re-uploading linear layer."""
    return _build(2, num_classes, input_shape, tuple(channels), pad_to, conv_qubits, conv_ansatz,
                  conv_depth, linear_qubits, linear_depth, linear_scale)


@register_model("creep_l2_twin", paper="S7", kind="classical", twin_of="creep_l2")
def creep_l2_twin(num_classes: int, input_shape: tuple[int, int, int],
                  channels: tuple[int, int] = (32, 16), pad_to: int = 32, conv_qubits: int = 2,
                  conv_ansatz: str = "strongly_entangling", conv_depth: int = 2,
                  linear_qubits: int = 7, linear_depth: int = 1,
                  linear_scale: float = 0.05) -> BlockClassifier:
    """S7 L2 with its quantum linear layer replaced by a matched classical map (convs as L1)."""
    return _build(2, num_classes, input_shape, tuple(channels), pad_to, conv_qubits, conv_ansatz,
                  conv_depth, linear_qubits, linear_depth, linear_scale, twin_linear=True)

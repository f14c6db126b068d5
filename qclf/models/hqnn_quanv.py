"""S2 HQNN-Quanv (Senokosov et al., MLST 5:015040, 2024), its classical twin and its baselines.

A quanvolutional layer on the raw image, then one linear layer:
``Quanv2d(C -> 4, 2x2 patches, stride 2, 4 qubits, RY(pi*x), trainable block, <Z>)`` ->
``4 x H/2 x W/2`` -> flatten -> ``Linear(-> classes)``. On MNIST that is 8 circuit weights and a
7850-parameter head (7858 in all). The layer's details come from reimplementations (papers.md,
unverified); encoding, ansatz, depth and measurement are builder options.

Models (all share the head ``Flatten -> Linear(channels * H_out * W_out -> classes)``):

- ``hqnn_quanv`` (hybrid): the quanvolution above.
- ``classical_quanv`` (twin): the quanvolution replaced by ``Quanv2d.classical_twin()``, a
  ``Conv(2x2, stride 2) -> tanh -> Conv(1x1) -> tanh`` block of the same shape and parameter count.
- ``classical_quanv_wide`` (baseline, the paper's "classical counterpart" with about 4x the
  parameters): ``Conv2d(C -> 16, 2x2, stride 2) + ReLU`` -> ``Linear(16 * H/2 * W/2 -> classes)``
  (31,450 parameters on MNIST, 4.0x). Our reconstruction: the paper's exact network is not given.
- ``classical_quanv_equal`` (baseline, the paper's "classical model with equal weights"): a plain
  ``Conv2d(C -> 4, 2x2, stride 2) + ReLU`` in place of the quanvolution (7870 on MNIST, +0.2%).
  Also a reconstruction; it differs from the twin in being a single ordinary conv layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from qclf.layers import Quanv2d
from qclf.models.base import BlockClassifier, InputShapeError
from qclf.models.registry import register_model

PAPER = "S2"


def _check_size(input_shape: tuple[int, int, int], kernel: int, stride: int) -> tuple[int, int]:
    _, h, w = input_shape
    if h < kernel or w < kernel:
        raise InputShapeError(
            f"HQNN-Quanv needs images of at least {kernel}x{kernel} pixels, got input_shape "
            f"{tuple(input_shape)}"
        )
    return (h - kernel) // stride + 1, (w - kernel) // stride + 1


def _head(channels: int, out_hw: tuple[int, int], num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * out_hw[0] * out_hw[1], num_classes))


def _quanv(input_shape: tuple[int, int, int], out_channels: int, kernel: int, stride: int,
           encoding: str, encoding_kw: dict[str, Any] | None, ansatz: str, depth: int,
           measurement: str | Sequence[str], trainable: bool) -> Quanv2d:
    return Quanv2d(input_shape[0], out_channels, kernel, stride, ansatz=ansatz,
                   trainable=trainable, depth=depth, encoding=encoding, encoding_kw=encoding_kw,
                   measurement=measurement)


def _build(num_classes: int, input_shape: tuple[int, int, int], quantum: bool, *,
           out_channels: int, kernel: int, stride: int, encoding: str,
           encoding_kw: dict[str, Any] | None, ansatz: str, depth: int,
           measurement: str | Sequence[str], trainable: bool) -> BlockClassifier:
    out_hw = _check_size(input_shape, kernel, stride)
    block: nn.Module = _quanv(input_shape, out_channels, kernel, stride, encoding, encoding_kw,
                              ansatz, depth, measurement, trainable)
    if not quantum:
        block = block.classical_twin()
    return BlockClassifier(input_shape, num_classes, nn.Identity(), block,
                           _head(out_channels, out_hw, num_classes))


@register_model("hqnn_quanv", paper=PAPER, kind="hybrid", twin="classical_quanv")
def hqnn_quanv(num_classes: int, input_shape: tuple[int, int, int], out_channels: int = 4,
               kernel: int = 2, stride: int = 2, encoding: str = "angle",
               encoding_kw: dict[str, Any] | None = None, ansatz: str = "quanv_block",
               depth: int = 1, measurement: str | Sequence[str] = "Z",
               trainable: bool = True) -> BlockClassifier:
    """HQNN-Quanv: a trainable 4-qubit quanvolution on 2x2 patches, then one linear layer (S2).

    ``encoding_kw`` defaults to RY(pi*x) for angle encoding; ``trainable=False`` with
    ``ansatz="random_layer"`` gives Henderson et al.'s fixed random quanvolution.
    """
    return _build(num_classes, input_shape, True, out_channels=out_channels, kernel=kernel,
                  stride=stride, encoding=encoding, encoding_kw=encoding_kw, ansatz=ansatz,
                  depth=depth, measurement=measurement, trainable=trainable)


@register_model("classical_quanv", paper=PAPER, kind="classical", twin_of="hqnn_quanv")
def classical_quanv(num_classes: int, input_shape: tuple[int, int, int], out_channels: int = 4,
                    kernel: int = 2, stride: int = 2, encoding: str = "angle",
                    encoding_kw: dict[str, Any] | None = None, ansatz: str = "quanv_block",
                    depth: int = 1, measurement: str | Sequence[str] = "Z",
                    trainable: bool = True) -> BlockClassifier:
    """HQNN-Quanv's classical twin: the quanvolution's matched conv block, same head."""
    return _build(num_classes, input_shape, False, out_channels=out_channels, kernel=kernel,
                  stride=stride, encoding=encoding, encoding_kw=encoding_kw, ansatz=ansatz,
                  depth=depth, measurement=measurement, trainable=trainable)


def _conv_baseline(num_classes: int, input_shape: tuple[int, int, int], channels: int,
                   kernel: int, stride: int) -> BlockClassifier:
    out_hw = _check_size(input_shape, kernel, stride)
    block = nn.Sequential(nn.Conv2d(input_shape[0], channels, kernel, stride), nn.ReLU())
    return BlockClassifier(input_shape, num_classes, nn.Identity(), block,
                           _head(channels, out_hw, num_classes))


@register_model("classical_quanv_wide", paper=PAPER, kind="baseline", baseline_of="hqnn_quanv")
def classical_quanv_wide(num_classes: int, input_shape: tuple[int, int, int], channels: int = 16,
                         kernel: int = 2, stride: int = 2) -> BlockClassifier:
    """S2's "classical counterpart" (reconstructed): Conv(2x2, s2, 16 ch)+ReLU, ~4x the params."""
    return _conv_baseline(num_classes, input_shape, channels, kernel, stride)


@register_model("classical_quanv_equal", paper=PAPER, kind="baseline", baseline_of="hqnn_quanv")
def classical_quanv_equal(num_classes: int, input_shape: tuple[int, int, int], channels: int = 4,
                          kernel: int = 2, stride: int = 2) -> BlockClassifier:
    """S2's "classical model with equal weights" (reconstructed): Conv(2x2, s2, 4 ch)+ReLU."""
    return _conv_baseline(num_classes, input_shape, channels, kernel, stride)

"""Quantum convolution: one circuit per image patch (Henderson et al. 2019; HQNN-Quanv, S2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from qclf.circuits import build_qnode, get_circuit, n_outputs
from qclf.layers.base import QuantumLayer
from qclf.layers.twins import TWIN_SEED, freeze, matched_conv, output_activation
from qclf.quantum import TorchLayer

MAX_QUBITS = 20

#: blank patches are shared only when at most this fraction of the patches is not blank:
#: finding them costs ~0.2 ms per 12,544 patches, a 4-qubit circuit ~0.4 us per patch.
BLANK_MAX_LIVE = 0.9


def qubits_for_patch(encoding: str, patch_size: int) -> int:
    """The fewest qubits on which ``encoding`` takes a whole patch."""
    n_features = get_circuit(encoding, "encoding").n_features
    for n in range(1, MAX_QUBITS + 1):
        if n_features(n) >= patch_size:
            return n
    raise ValueError(f"a patch of {patch_size} values needs more than {MAX_QUBITS} qubits")


class Quanv2d(QuantumLayer):
    """A quantum convolution with ``nn.Conv2d``'s shapes: every patch through one circuit.

    Every ``in_channels x k x k`` patch (zero-padded like ``nn.Conv2d``) is encoded on
    ``n_qubits`` qubits, the ansatz runs, and each measured value is an output channel. One
    circuit gives ``n_qubits`` channels (for Z/X/Y readout); ``out_channels`` beyond that use
    further circuits (filters) with their own weights, and surplus channels of the last filter
    are dropped. All patches of all images go through each filter in one batched call.

    ``trainable=False`` is Henderson et al.'s quanvolution: the weights are drawn uniformly in
    [0, 2π) from ``seed`` and kept as the buffer ``fixed_weights`` (no trainable parameters).
    The defaults (RY(π·x) encoding, ``quanv_block`` ansatz, ⟨Z⟩) are S2's layer;
    ``Quanv2d(1, 4, 2, 2, ansatz="random_layer", trainable=False)`` is PennyLane's demo.

    Blank patches (all zeros: image background, padding) are simulated once per call and their
    result is shared (``reuse_blank``): three quarters of MNIST's 2x2 patches are blank. This is
    exact — every blank patch runs the same circuit — and the weight gradient of the shared
    circuit is the sum over the blank patches, as it would be circuit by circuit. It is skipped
    when the input needs its own gradient (each patch's input gradient differs), with finite
    shots (each circuit gets its own shot noise), and when few patches are blank.

    Args:
        in_channels, out_channels, kernel_size, stride, padding: as ``nn.Conv2d`` (zero padding).
        ansatz: catalogue ansatz run on every patch.
        trainable: learn the circuit weights (else fixed random).
        depth, encoding, encoding_kw, ansatz_kw, measurement: as :func:`circuits.build_qnode`.
        n_qubits: default, the fewest qubits the encoding needs for one patch.
        seed: seeds the fixed weights (``trainable=False``).
        reuse_blank: simulate blank patches once per call (see above).

    Shape:
        ``(..., C_in, H, W)`` → ``(..., C_out, H_out, W_out)`` with
        ``H_out = (H + 2·padding - kernel) // stride + 1`` (likewise ``W_out``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        ansatz: str | None = "quanv_block",
        trainable: bool = True,
        *,
        depth: int = 1,
        encoding: str = "angle",
        encoding_kw: dict[str, Any] | None = None,
        ansatz_kw: dict[str, Any] | None = None,
        measurement: str | Sequence[str] = "Z",
        n_qubits: int | None = None,
        seed: int = 0,
        reuse_blank: bool = True,
    ) -> None:
        super().__init__()
        self.reuse_blank = reuse_blank
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"channels must be positive, got {in_channels}, {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (
            _pair(kernel_size),
            _pair(stride),
            _pair(padding),
        )
        self.trainable, self.measurement = trainable, measurement
        self.patch_size = in_channels * self.kernel_size[0] * self.kernel_size[1]
        if encoding_kw is None and encoding == "angle":
            encoding_kw = {"rotation": "Y", "scale": math.pi}
        self.n_qubits = n_qubits or qubits_for_patch(encoding, self.patch_size)
        capacity = get_circuit(encoding, "encoding").n_features(self.n_qubits)
        if self.patch_size > capacity:
            raise ValueError(
                f"{encoding!r} on {self.n_qubits} qubits takes {capacity} values, a patch has "
                f"{self.patch_size}; raise n_qubits or shrink the kernel"
            )
        self.out_per_filter = n_outputs(measurement, self.n_qubits)
        self.n_filters = math.ceil(out_channels / self.out_per_filter)

        def build(**kw: Any) -> tuple[Any, dict]:
            return build_qnode(
                self.n_qubits,
                encoding,
                ansatz,
                depth,
                measurement,
                encoding_kw=encoding_kw,
                ansatz_kw=ansatz_kw,
                **kw,
            )

        if trainable:
            self.filters = nn.ModuleList(TorchLayer(*build()) for _ in range(self.n_filters))
        else:
            shape = get_circuit(ansatz, "ansatz").shape(self.n_qubits, depth) if ansatz else (0,)
            gen = torch.Generator().manual_seed(seed)
            fixed = torch.rand((self.n_filters, *shape), generator=gen) * 2 * math.pi
            self.register_buffer("fixed_weights", fixed)
            # each QNode reads its filter's weights from the buffer at call time, so .to(),
            # load_state_dict() and friends act on what the circuit uses
            self.filters = nn.ModuleList(
                TorchLayer(*build(weights=lambda i=i: self.fixed_weights[i]))
                for i in range(self.n_filters)
            )

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 3 or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"Quanv2d expects input of shape (..., {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        lead, (height, width) = x.shape[:-3], x.shape[-2:]
        h_out, w_out = self.output_size(height, width)
        if h_out < 1 or w_out < 1:
            raise ValueError(
                f"input {height}x{width} is smaller than the padded kernel {self.kernel_size}"
            )
        images = x.reshape(-1, self.in_channels, height, width)
        patches = F.unfold(images, self.kernel_size, padding=self.padding, stride=self.stride)
        patches = patches.transpose(1, 2).reshape(-1, self.patch_size)  # (B·L, C·k·k)
        out = self._run_filters(patches)
        out = out.reshape(-1, h_out, w_out, self.out_channels).permute(0, 3, 1, 2)
        return out.reshape(*lead, self.out_channels, h_out, w_out)

    def _run_filters(self, patches: torch.Tensor) -> torch.Tensor:
        """(patches, out_channels): every filter on every patch, blank patches once."""
        rows, where = patches, None
        if (self.reuse_blank and not (torch.is_grad_enabled() and patches.requires_grad)
                and patches.shape[0] > 1 and all(f.analytic for f in self.filters)):  # fmt: skip
            live = (patches != 0).any(1)
            if int(live.sum()) <= BLANK_MAX_LIVE * patches.shape[0]:
                idx = live.nonzero()[:, 0]
                rows = torch.cat([patches.new_zeros(1, patches.shape[1]),
                                  patches.index_select(0, idx)])  # fmt: skip
                # row 0 is the blank patch: every blank patch reads it (gradients add up there)
                where = torch.zeros(patches.shape[0], dtype=torch.long, device=patches.device)
                where[idx] = torch.arange(1, idx.shape[0] + 1, device=patches.device)
        out = torch.cat([f(rows) for f in self.filters], dim=-1)[:, : self.out_channels]
        return out if where is None else out.index_select(0, where)

    def classical_twin(self) -> nn.Module:
        """A conv block with the same output shape and ≈ the trainable parameters.

        Trainable: ``Conv(k) -> tanh -> Conv(1x1) -> tanh`` sized by :func:`matched_conv`.
        Fixed: a seeded random ``Conv2d`` + tanh whose weights are buffers (nothing trained).
        """
        activation = output_activation(self.measurement, dim=-3)
        if not self.trainable:
            conv = nn.Conv2d(
                self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding
            )
            return nn.Sequential(freeze(conv, TWIN_SEED), activation)
        return matched_conv(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.n_quantum_params,
            activation,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, n_qubits={self.n_qubits}, "
            f"n_filters={self.n_filters}, trainable={self.trainable}"
        )

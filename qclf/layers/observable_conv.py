r"""Quantum convolution with observable-valued kernels: patches measured on trained states (S7).

S7 (Wang et al. 2024, "Let the Quantum Creep In") replaces a convolution by one that puts each
k x k patch (per input channel) into an observable and measures it on a trained few-qubit state.
With fixed Hermitian basis elements :math:`B_1..B_{k^2}` (distinct non-identity Pauli words on
``n`` qubits, :math:`k^2 \le 4^n - 1`) and one trained state :math:`|\psi_{o,c}\rangle` per
(output, input) channel pair, the patch :math:`p` of channel :math:`c` becomes the observable
:math:`A_c(p) = \sum_k p_k B_k` and

.. math:: y_o = b_o + \sum_c \langle\psi_{o,c}| A_c(p) |\psi_{o,c}\rangle
              = b_o + \sum_{c,k} p_k\, K_{o,c,k},\qquad
   K_{o,c,k} = \langle\psi_{o,c}| B_k |\psi_{o,c}\rangle .

Expectation values are linear in the observable, so the layer is *exactly* a convolution whose
kernel entries are Pauli expectation values of trained states: each kernel lies in
:math:`[-1, 1]^{k^2}` and, for a pure 2-qubit state, :math:`\sum_k K_{o,c,k}^2 \le 3` (the 15
non-identity Pauli expectations of a pure 2-qubit state have squares summing to 3). The kernel
is computed once per forward pass, batched over all (o, c) pairs on
:class:`qclf.quantum.TorchLayer` (the states are ``|psi> = U(theta)|0..0>`` with ``U`` a catalogue
ansatz, default ``strongly_entangling``), then applied with ``conv2d``; ``theta`` is the only
quantum parameter, the bias ``b`` is classical.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from qclf.circuits import build_qnode, get_circuit
from qclf.layers.base import QuantumLayer
from qclf.quantum import TorchLayer

#: S7's 3x3 patch on 2 qubits: local Paulis of both qubits, then the three correlations XX, YY, ZZ
DEFAULT_BASIS_2Q = ("XI", "YI", "ZI", "IX", "IY", "IZ", "XX", "YY", "ZZ")


def pauli_basis(n_qubits: int, size: int) -> tuple[str, ...]:
    """``size`` distinct non-identity Pauli words on ``n_qubits``: S7's default for 2 qubits,
    else ordered by weight, then lexicographically."""
    if n_qubits == 2 and size <= len(DEFAULT_BASIS_2Q):
        return DEFAULT_BASIS_2Q[:size]
    words = ["".join(w) for w in itertools.product("IXYZ", repeat=n_qubits)]
    words = sorted((w for w in words if set(w) != {"I"}), key=lambda w: (4 - w.count("I"), w))
    if size > len(words):
        raise ValueError(f"a {size}-entry kernel needs {size} non-identity Pauli words; "
                         f"{n_qubits} qubits have only {len(words)}: raise n_qubits")
    return tuple(words[:size])


class _StateAngles(nn.Module):
    """The trained states' circuit angles (a quantum module for ``count_parameters``)."""

    is_quantum = True

    def __init__(self, n_states: int, n_angles: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.rand(n_states, n_angles) * 2 * math.pi)


class ObservableConv2d(QuantumLayer):
    """``nn.Conv2d``-shaped layer whose kernel entries are Pauli expectations of trained states.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, bias: as ``nn.Conv2d``.
        n_qubits: qubits of each trained state (2 in S7; needs ``4**n - 1 >= k*k``).
        ansatz, depth: catalogue ansatz preparing ``|psi> = U(theta)|0>`` (default
            ``strongly_entangling`` depth 2: 12 angles per state on 2 qubits).
        basis: the ``k*k`` Pauli words (default :func:`pauli_basis`).

    Trainable: ``out_channels * in_channels * n_angles`` quantum angles (+ ``out_channels``
    classical biases).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 0, bias: bool = True, *, n_qubits: int = 2,
                 ansatz: str = "strongly_entangling", depth: int = 2,
                 basis: Sequence[str] | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.n_qubits = n_qubits
        size = kernel_size * kernel_size
        self.basis = tuple(basis) if basis is not None else pauli_basis(n_qubits, size)
        if len(self.basis) != size:
            raise ValueError(f"basis needs {size} Pauli words for a {kernel_size}x{kernel_size} "
                             f"kernel, got {len(self.basis)}")
        self.n_angles = get_circuit(ansatz, "ansatz").n_weights(n_qubits, depth)
        qnode, _ = build_qnode(n_qubits, None, ansatz, depth, list(self.basis))
        self.circuit = TorchLayer(qnode, {})
        self.states = _StateAngles(out_channels * in_channels, self.n_angles)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def kernel(self) -> torch.Tensor:
        """``(out, in, k, k)``: :math:`K_{o,c,k} = \\langle\\psi_{o,c}|B_k|\\psi_{o,c}\\rangle`."""
        k = self.circuit(self.states.theta)
        return k.reshape(self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.kernel().to(x.dtype)
        return F.conv2d(x, w, self.bias, stride=self.stride, padding=self.padding)

    def classical_twin(self) -> nn.Module:
        """The ``nn.Conv2d`` of the same shape (S7's L0 layer; its count is reported, not
        matched)."""
        return nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                         self.padding, bias=self.bias is not None)

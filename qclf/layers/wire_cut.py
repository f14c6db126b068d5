r"""One wire cut: S5's n-qubit circuit run as two smaller fragments and recombined exactly.

S5 (Li et al. 2025) runs an 8-qubit QCNN on pieces of at most 5 qubits. The logical circuit is

.. math:: |\psi(x)\rangle = A_\text{back}(w_b)\,E(x_{c+1..n-1})\;A_\text{front}(w_f)\,
   E(x_{0..c})\,|0\rangle^{\otimes n}

with :math:`E` a catalogue encoding (S5: H then RY(feature), ``hadamard_angle``) and
:math:`A` a catalogue ansatz (S5: the 5-weight convolution staircase ``qcnn_conv``, weights shared
within a fragment) acting on the *front* wires ``0..c`` and the *back* wires ``c..n-1``. Every
front gate on the cut wire ``c`` happens before every back gate on it, so the circuit carries a
``qml.WireCut`` there and runs through :mod:`qclf.cutting` (the one implementation of the
wire-cut identity in qclf, see :mod:`qclf.cutting.identity`): a ``c + 1``-qubit front fragment
measured in 3 bases and an ``n - c``-qubit back fragment prepared in 4 states, 7 fragment
circuits per sample, recombined in torch. For S5, ``n = 8, c = 3``: a 4-qubit front and a
5-qubit back fragment, 32 outcomes. ``cut=False`` simulates the uncut n-qubit circuit instead:
the two agree exactly (tested to 1e-6 in float64, values and gradients).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pennylane as qml
import torch
from torch import nn

from qclf.circuits import get_circuit
from qclf.cutting import CutPlan, split
from qclf.layers.base import QuantumLayer, check_last_dim
from qclf.quantum import simulate

MEASUREMENTS = ("probs", "Z", "X", "Y")


def rotate_to(basis: str, wires: Sequence[int]) -> None:
    """Queue the basis change after which a Z-basis measurement measures ``basis``."""
    if basis not in ("X", "Y", "Z"):
        raise ValueError(f"basis must be 'X', 'Y' or 'Z', got {basis!r}")
    for w in wires:
        if basis == "Y":
            qml.adjoint(qml.S(wires=w))
        if basis in ("X", "Y"):
            qml.Hadamard(wires=w)


def expectations_from_probs(p: torch.Tensor, n: int) -> torch.Tensor:
    """Per-qubit ``<Z>`` (in the measured basis) from an n-qubit distribution ``(..., 2**n)``."""
    v = p.reshape(*p.shape[:-1], *([2] * n))
    out = []
    for i in range(n):
        m = v.movedim(len(p.shape) - 1 + i, -1).reshape(*p.shape[:-1], -1, 2).sum(-2)
        out.append(m[..., 0] - m[..., 1])
    return torch.stack(out, dim=-1)


def _run(qfunc: Callable[[], Any], wire_order: Sequence[int], dtype: torch.dtype,
         device: torch.device) -> torch.Tensor:
    with qml.queuing.AnnotatedQueue() as q:
        qfunc()
    tape = qml.tape.QuantumScript.from_queue(q)
    return simulate(tape.operations, tape.measurements, list(wire_order), dtype=dtype,
                    device=device)[0]


class WireCut(QuantumLayer):
    """An n-qubit encoding + ansatz circuit cut once on wire ``cut_qubit`` (see module doc).

    Args:
        n_qubits: logical qubits (S5: 8).
        cut_qubit: the cut wire (S5: 3, the 4th logical qubit); the front fragment has
            ``cut_qubit + 1`` qubits, the back fragment ``n_qubits - cut_qubit``.
        encoding, encoding_kw: catalogue encoding and its options (S5: ``hadamard_angle``,
            ``{"rotation": "Y"}``). Features ``0..cut_qubit`` go to the front fragment, the rest
            to the back fragment's non-cut wires.
        ansatz, ansatz_kw, depth: catalogue ansatz applied on each fragment's wires with its own
            weights (S5: ``qcnn_conv``, 5 weights per fragment and layer).
        measurement: ``"probs"`` (the back fragment's ``2**(n - c)`` outcomes, S5) or ``"Z"``,
            ``"X"``, ``"Y"``: per-qubit expectations of the back wires (the back fragment is
            rotated to that basis and the expectations are read from the distribution).
        cut: ``False`` simulates the uncut n-qubit circuit (same weights, same output).

    Shape: ``(..., n_qubits)`` -> ``(..., 2**(n - c))`` for probs, ``(..., n - c)`` otherwise.
    """

    is_quantum = True  # every parameter of this layer is a circuit weight

    def __init__(self, n_qubits: int = 8, cut_qubit: int = 3, *,
                 encoding: str = "hadamard_angle", encoding_kw: dict[str, Any] | None = None,
                 ansatz: str = "qcnn_conv", ansatz_kw: dict[str, Any] | None = None,
                 depth: int = 1, measurement: str = "probs", cut: bool = True) -> None:
        super().__init__()
        if not 1 <= cut_qubit < n_qubits - 1:
            raise ValueError(f"cut_qubit must be in [1, n_qubits - 2] = [1, {n_qubits - 2}] so "
                             f"both fragments have two or more qubits, got {cut_qubit}")
        if measurement not in MEASUREMENTS:
            raise ValueError(f"measurement must be one of {MEASUREMENTS}, got {measurement!r}")
        self.n_qubits, self.cut_qubit, self.depth, self.cut = n_qubits, cut_qubit, depth, cut
        self.measurement = measurement
        self.front_wires = tuple(range(cut_qubit + 1))
        self.back_wires = tuple(range(cut_qubit, n_qubits))
        self.enc = get_circuit(encoding, "encoding")
        self.ans = get_circuit(ansatz, "ansatz")
        self.enc_kw = dict(encoding_kw if encoding_kw is not None else {"rotation": "Y"})
        self.ans_kw = dict(ansatz_kw or {})
        for wires in (self.front_wires, self.back_wires):
            self.ans.check_qubits(len(wires), depth)
        self.in_features = n_qubits
        n_back = len(self.back_wires)
        self.out_features = 2**n_back if measurement == "probs" else n_back
        shape_f = self.ans.shape(len(self.front_wires), depth)
        shape_b = self.ans.shape(len(self.back_wires), depth)
        self.front_weights = nn.Parameter(torch.rand(shape_f) * 2 * math.pi)
        self.back_weights = nn.Parameter(torch.rand(shape_b) * 2 * math.pi)
        self.__dict__["_split"] = split(  # not a submodule: it holds no parameters
            lambda inputs, wf, wb: self._uncut(inputs, wf, wb, mark_cut=True),
            max_qubits=max(len(self.front_wires), len(self.back_wires)))

    # ---------------------------------------------------------------- circuits
    @property
    def plan(self) -> CutPlan:
        """The split (:class:`qclf.cutting.CutPlan`): cuts, fragments and their widths."""
        x = torch.zeros(1, self.n_qubits, dtype=torch.float64)
        return self._split.plan_for(x, self.front_weights.detach().double(),
                                    self.back_weights.detach().double())

    def _front_inputs(self, x: Any) -> Any:
        return x[..., : self.cut_qubit + 1]

    def _back_inputs(self, x: Any) -> Any:
        return x[..., self.cut_qubit + 1:]

    def _measure_back(self) -> Any:
        if self.measurement != "probs":
            rotate_to(self.measurement, list(self.back_wires))
        return qml.probs(wires=list(self.back_wires))

    def _uncut(self, inputs: Any, front_w: Any, back_w: Any, mark_cut: bool = False) -> Any:
        self.enc(self._front_inputs(inputs), list(self.front_wires), **self.enc_kw)
        self.ans(front_w, list(self.front_wires), **self.ans_kw)
        if mark_cut:
            qml.WireCut(wires=self.cut_qubit)
        self.enc(self._back_inputs(inputs), list(self.back_wires[1:]), **self.enc_kw)
        self.ans(back_w, list(self.back_wires), **self.ans_kw)
        return self._measure_back()

    # ----------------------------------------------------------------- forward
    def back_distribution(self, x: torch.Tensor) -> torch.Tensor:
        """The back wires' outcome distribution ``(B, 2**(n - c))`` for features ``(B, n)``."""
        dt, dev = x.dtype, x.device
        wf, wb = self.front_weights.to(dt), self.back_weights.to(dt)
        if not self.cut:
            return _run(lambda: self._uncut(x, wf, wb), range(self.n_qubits), dt, dev)
        return self._split(x, wf, wb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.in_features, type(self).__name__)
        flat = x.reshape(-1, self.in_features)
        p = self.back_distribution(flat)
        if self.measurement != "probs":
            p = expectations_from_probs(p, len(self.back_wires))
        return p.reshape(*x.shape[:-1], self.out_features)

    def classical_twin(self) -> nn.Module:
        """:class:`GainTwin` with ≈ the circuit's weights (``9 · layers + 1``)."""
        n_w = self.front_weights.numel() + self.back_weights.numel()
        layers = max(1, round((n_w - 1) / (self.in_features + 1)))
        return GainTwin(self.in_features, self.out_features, layers,
                        "softmax" if self.measurement == "probs" else "tanh")


class GainTwin(nn.Module):
    r"""A classical stand-in for a few-weight circuit with a wide output.

    A circuit with ~10 weights can output 32 probabilities because its feature map (encoding and
    measurement) is fixed and costs no parameters; any trainable linear map to 32 outputs would
    already need 32+. This twin keeps that split: ``layers`` trainable per-feature gain layers
    :math:`x \leftarrow \tanh(g_l \odot x + c_l)` (``n_in + 1`` weights each) and one trainable
    temperature :math:`\tau`, then a fixed, seeded random map :math:`R` (a buffer) to the output:
    ``n_out · softmax(τ R x)`` (probabilities scaled to mean 1) or ``tanh(τ R x)``
    (expectations). Trainable parameters: ``layers · (n_in + 1) + 1`` (10 for S5's 8 features,
    one layer: the circuit has 10).

    Why the ``n_out`` scale: unscaled, 32 probabilities of about 1/32 each feed the head, whose
    weights must then grow ~32x before its logits separate the classes; Adam's steps do not grow
    with that need, and the unscaled twin stayed at the majority class in every seed of 20-epoch
    BreastMNIST runs (73.08%, while its loss was still falling) — a twin that never learnt, not a
    fair baseline. Scaled, it learns in the same budget (see experiments/RESULTS.md, S5).

    ``temperature`` starts at 2.5: on N(0, 1) features the twin's 32 probabilities then vary
    across samples about as much as S5's circuit's at initialisation (per-outcome std 0.050 vs
    0.046; at 1.0 the twin starts 2.5x flatter and barely learnt in short runs).
    """

    def __init__(self, n_in: int, n_out: int, layers: int = 1, output: str = "softmax",
                 seed: int = 1234, temperature: float = 2.5) -> None:
        super().__init__()
        self.gains = nn.Parameter(torch.ones(layers, n_in))
        self.shifts = nn.Parameter(torch.zeros(layers, 1))
        self.temperature = nn.Parameter(torch.tensor(float(temperature)))
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("projection", torch.randn(n_out, n_in, generator=gen) / n_in**0.5)
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for g, c in zip(self.gains, self.shifts, strict=True):
            x = torch.tanh(g * x + c)
        z = self.temperature * (x @ self.projection.T)
        if self.output == "softmax":
            return z.shape[-1] * torch.softmax(z, -1)
        return torch.tanh(z)

r"""One wire cut: an n-qubit circuit run as two smaller fragments and recombined exactly (S5).

S5 (Li et al. 2025) runs an 8-qubit QCNN on pieces of at most 5 qubits. The logical circuit is

.. math:: |\psi(x)\rangle = A_\text{back}(w_b)\,E(x_{c+1..n-1})\;A_\text{front}(w_f)\,
   E(x_{0..c})\,|0\rangle^{\otimes n}

with :math:`E` a catalogue encoding (S5: H then RY(feature), ``hadamard_angle``) and
:math:`A` a catalogue ansatz (S5: the 5-weight convolution staircase ``qcnn_conv``, weights shared
within a fragment) acting on the *front* wires ``0..c`` and the *back* wires ``c..n-1``. Every
front gate on the cut wire ``c`` happens before every back gate on it, so the wire can be cut
there. With :math:`\rho` the front fragment's reduced state of the cut qubit (the other front
qubits are not measured and are traced out), the identity channel on one qubit is

.. math:: \rho = \tfrac12 \sum_{P \in \{I,X,Y,Z\}} \mathrm{Tr}(P\rho)\, P, \quad
   I = |0\rangle\langle0| + |1\rangle\langle1|,\; Z = |0\rangle\langle0| - |1\rangle\langle1|,\;
   X = |{+}\rangle\langle{+}| - |{-}\rangle\langle{-}|,\;
   Y = |{+i}\rangle\langle{+i}| - |{-i}\rangle\langle{-i}|

so the back fragment's outcome distribution over its ``n - c`` wires is

.. math:: p = \tfrac12\big[t_I (q_0 + q_1) + t_Z (q_0 - q_1) + t_X (q_+ - q_-)
   + t_Y (q_{+i} - q_{-i})\big]

where :math:`t_P = \mathrm{Tr}(P\rho)` comes from the front fragment measured in the Z, X and Y
bases (3 circuits; :math:`t_I` and :math:`t_Z` from the same Z-basis circuit) and :math:`q_s` is
the back fragment's distribution with the cut qubit prepared in :math:`|s\rangle` (6 circuits):
9 fragment circuits per sample, ``(c + 1) + (n - c) - 1 = n`` logical qubits. For S5,
``n = 8, c = 3``: a 4-qubit front and a 5-qubit back fragment, 32 outcomes.

The fragments are explicit ``(inputs, weights)`` circuits (:meth:`WireCut.fragment_qnode` builds
a QNode for any one of them, e.g. for hardware); :func:`recombine` is the classical
post-processing and accepts their results from anywhere. In torch every fragment runs batched on
:func:`qclf.quantum.simulate`. ``cut=False`` simulates the uncut n-qubit circuit instead: the two
agree exactly (tested to 1e-6 in float64, values and gradients).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pennylane as qml
import torch
from torch import nn

from qclf.circuits import get_circuit
from qclf.layers.base import QuantumLayer, check_last_dim
from qclf.quantum import simulate

#: front fragment: the cut qubit measured in these bases
BASES = ("Z", "X", "Y")
#: back fragment: the cut qubit prepared in these states
PREPARATIONS = ("0", "1", "+", "-", "+i", "-i")
MEASUREMENTS = ("probs", "Z", "X", "Y")


def prepare(state: str, wire: int) -> None:
    """Queue the gates that take ``|0>`` to ``|state>`` (one of :data:`PREPARATIONS`)."""
    if state not in PREPARATIONS:
        raise ValueError(f"preparation must be one of {PREPARATIONS}, got {state!r}")
    if state in ("1", "-", "-i"):
        qml.PauliX(wires=wire)
    if state != "0" and state != "1":
        qml.Hadamard(wires=wire)
    if state in ("+i", "-i"):
        qml.S(wires=wire)


def rotate_to(basis: str, wires: Sequence[int]) -> None:
    """Queue the basis change after which a Z-basis measurement measures ``basis``."""
    if basis not in ("X", "Y", "Z"):
        raise ValueError(f"basis must be 'X', 'Y' or 'Z', got {basis!r}")
    for w in wires:
        if basis == "Y":
            qml.adjoint(qml.S(wires=w))
        if basis in ("X", "Y"):
            qml.Hadamard(wires=w)


@dataclass(frozen=True)
class Fragment:
    """One fragment circuit: ``side`` is ``"front"`` (``setting`` a basis) or ``"back"``
    (``setting`` a preparation); ``wires`` are its logical wires (the cut wire last / first)."""

    side: str
    setting: str
    wires: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.side}[{self.setting}]"


def recombine(front: dict[str, torch.Tensor], back: dict[str, torch.Tensor]) -> torch.Tensor:
    """Wire-cut recombination: front probabilities of the cut qubit ``{"Z"|"X"|"Y": (..., 2)}``,
    back distributions ``{"0"|"1"|"+"|"-"|"+i"|"-i": (..., K)}`` -> the uncut ``(..., K)``."""
    t = {b: front[b][..., :1] - front[b][..., 1:] for b in BASES}
    t_i = front["Z"].sum(-1, keepdim=True)
    q = back
    return 0.5 * (
        t_i * (q["0"] + q["1"])
        + t["Z"] * (q["0"] - q["1"])
        + t["X"] * (q["+"] - q["-"])
        + t["Y"] * (q["+i"] - q["-i"])
    )


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

    # ---------------------------------------------------------------- circuits
    def fragments(self) -> list[Fragment]:
        """The 9 fragment circuits per sample: 3 front (bases), 6 back (preparations)."""
        return ([Fragment("front", b, self.front_wires) for b in BASES]
                + [Fragment("back", s, self.back_wires) for s in PREPARATIONS])

    def _front_inputs(self, x: Any) -> Any:
        return x[..., : self.cut_qubit + 1]

    def _back_inputs(self, x: Any) -> Any:
        return x[..., self.cut_qubit + 1:]

    def _front(self, inputs: Any, weights: Any, basis: str) -> Any:
        self.enc(inputs, list(self.front_wires), **self.enc_kw)
        self.ans(weights, list(self.front_wires), **self.ans_kw)
        rotate_to(basis, [self.cut_qubit])
        return qml.probs(wires=[self.cut_qubit])

    def _back(self, inputs: Any, weights: Any, state: str) -> Any:
        prepare(state, self.cut_qubit)
        self.enc(inputs, list(self.back_wires[1:]), **self.enc_kw)
        self.ans(weights, list(self.back_wires), **self.ans_kw)
        return self._measure_back()

    def _measure_back(self) -> Any:
        if self.measurement != "probs":
            rotate_to(self.measurement, list(self.back_wires))
        return qml.probs(wires=list(self.back_wires))

    def _uncut(self, inputs: Any, front_w: Any, back_w: Any) -> Any:
        self.enc(self._front_inputs(inputs), list(self.front_wires), **self.enc_kw)
        self.ans(front_w, list(self.front_wires), **self.ans_kw)
        self.enc(self._back_inputs(inputs), list(self.back_wires[1:]), **self.enc_kw)
        self.ans(back_w, list(self.back_wires), **self.ans_kw)
        return self._measure_back()

    def fragment_qnode(self, fragment: Fragment, device: Any = None) -> qml.QNode:
        """A standalone QNode ``circuit(inputs, weights)`` of one fragment, on its own wires.

        ``inputs`` are the full ``(..., n_qubits)`` features (the fragment takes its share);
        ``weights`` are :attr:`front_weights` or :attr:`back_weights`. This is the piece a
        hardware backend runs; :func:`recombine` combines the results.
        """
        dev = device or qml.device("default.qubit", wires=list(fragment.wires))
        if fragment.side == "front":
            def circuit(inputs, weights):  # noqa: ANN001 - QNode argument names
                return self._front(self._front_inputs(inputs), weights, fragment.setting)
        else:
            def circuit(inputs, weights):  # noqa: ANN001, F811
                return self._back(self._back_inputs(inputs), weights, fragment.setting)
        return qml.QNode(circuit, dev, interface="torch")

    # ----------------------------------------------------------------- forward
    def back_distribution(self, x: torch.Tensor) -> torch.Tensor:
        """The back wires' outcome distribution ``(B, 2**(n - c))`` for features ``(B, n)``."""
        dt, dev = x.dtype, x.device
        wf, wb = self.front_weights.to(dt), self.back_weights.to(dt)
        if not self.cut:
            return _run(lambda: self._uncut(x, wf, wb), range(self.n_qubits), dt, dev)
        xf, xb = self._front_inputs(x), self._back_inputs(x)
        front = {b: _run(lambda b=b: self._front(xf, wf, b), self.front_wires, dt, dev)
                 for b in BASES}
        back = {s: _run(lambda s=s: self._back(xb, wb, s), self.back_wires, dt, dev)
                for s in PREPARATIONS}
        return recombine(front, back)

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
    ``softmax(τ R x)`` (probabilities) or ``tanh(τ R x)`` (expectations). Trainable parameters:
    ``layers · (n_in + 1) + 1`` (10 for S5's 8 features, one layer: the circuit has 10).

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
        return torch.softmax(z, -1) if self.output == "softmax" else torch.tanh(z)

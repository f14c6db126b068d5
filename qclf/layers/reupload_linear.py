r"""A quantum stand-in for a wide linear layer: data re-uploading on one n-qubit register (S7 L2).

S7 (Wang et al. 2024) replaces the final ``Linear(12544 -> 10)`` by a 7-qubit data re-uploading
layer "simulated as explicit matrices". The authors' exact construction is not recorded
(papers.md), so qclf uses this one, stated in full. The input (length N) is zero-padded and cut
into :math:`J = \lceil N / 2^n \rceil` chunks :math:`x_j \in \mathbb{R}^{2^n}`; chunk j is uploaded
as the diagonal phase unitary :math:`D(x_j) = \mathrm{diag}(e^{i s x_{j,0}}, \ldots,
e^{i s x_{j,2^n-1}})` and followed by its own trained unitary :math:`W_j(\theta_j)`
(``depth`` StronglyEntanglingLayers: Rot on each qubit, CNOT ring of range
:math:`(l \bmod (n-1)) + 1`):

.. math:: |\psi(x)\rangle = W_J D(x_J) \cdots W_2 D(x_2)\, W_1 D(x_1)\, H^{\otimes n}|0\rangle,
   \qquad y_m = a_m \langle\psi(x)| Z_{S_m} |\psi(x)\rangle + b_m

with :math:`Z_{S_m}` the m-th Z-word (single :math:`Z_i` first, then :math:`Z_iZ_{i+1}` on
disjoint pairs: 7 + 3 = 10 outputs on 7 qubits) and a classical per-output affine (a, b), since
expectations lie in [-1, 1] and cross-entropy needs a wider logit range. Every operator is a
:math:`2^n \times 2^n` matrix applied to the batched state (the "explicit matrices" of the
original; run on qclf's engine, :meth:`ReuploadLinear.expectations`); the phase uploads are
exact unitaries, not hardware-efficient ones (a diagonal unitary on 7 qubits needs up to
:math:`2^7` multi-controlled phases). Quantum parameters:
``J * depth * n * 3`` (2058 for S7's 12544 features on 7 qubits, depth 1), classical ``2 *
out_features``.

The phase scale matters: S7's conv features have std ~3 on MNIST, and with ``scale = 1`` the 98
uploads scramble the state (outputs a pseudo-random function of the input; chance accuracy in
qclf's runs), while ``scale ~ 0.05`` keeps the layer near its linearisation in x (qclf's S7
default, set in ``qclf.models.quantum_creep``).
"""

from __future__ import annotations

import math

import pennylane as qml
import torch
from torch import nn

from qclf.layers.base import QuantumLayer, check_last_dim
from qclf.layers.twins import matched_mlp
from qclf.quantum import PlanCache, simulate


def z_words(n_qubits: int, n_out: int) -> list[tuple[int, ...]]:
    """Qubit sets of the first ``n_out`` Z-words: singles, then neighbour pairs (0,1), (2,3)...,
    then (1,2), (3,4)..., then triples."""
    words: list[tuple[int, ...]] = [(i,) for i in range(n_qubits)]
    words += [(i, i + 1) for i in range(0, n_qubits - 1, 2)]
    words += [(i, i + 1) for i in range(1, n_qubits - 1, 2)]
    words += [(i, i + 1, i + 2) for i in range(n_qubits - 2)]
    if n_out > len(words):
        raise ValueError(f"{n_qubits} qubits give at most {len(words)} Z-word outputs here, "
                         f"asked for {n_out}: raise n_qubits")
    return words[:n_out]


def _rot(theta: torch.Tensor) -> torch.Tensor:
    """PennyLane's Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi): (..., 3) -> (..., 2, 2)."""
    phi, th, om = theta.unbind(-1)
    c, s = torch.cos(th / 2), torch.sin(th / 2)
    a, d = (phi + om) / 2, (phi - om) / 2
    e = torch.polar
    one = torch.ones_like(c)
    m = torch.stack([e(c * one, -a), -e(s * one, d), e(s * one, -d), e(c * one, a)], -1)
    return m.reshape(*theta.shape[:-1], 2, 2)


def cnot_ring(n_qubits: int, r: int) -> torch.Tensor:
    """Permutation matrix of CNOT(i, (i + r) % n) for i = 0..n-1 (wire 0 most significant)."""
    dim = 1 << n_qubits
    perm = torch.arange(dim)
    for i in range(n_qubits):
        t = (i + r) % n_qubits
        ci, ti = n_qubits - 1 - i, n_qubits - 1 - t
        perm = torch.where((perm >> ci) & 1 == 1, perm ^ (1 << ti), perm)
    p = torch.zeros(dim, dim)
    p[perm, torch.arange(dim)] = 1.0  # |b> -> |f(b)>
    return p


def entangling_unitaries(theta: torch.Tensor, rings: torch.Tensor) -> torch.Tensor:
    """``(J, depth, n, 3)`` angles -> ``(J, 2^n, 2^n)`` StronglyEntanglingLayers unitaries."""
    j, depth, n, _ = theta.shape
    rots = _rot(theta)  # (J, depth, n, 2, 2)
    u = None
    for layer in range(depth):
        k = rots[:, layer, 0]
        for q in range(1, n):
            r = rots[:, layer, q]
            k = torch.einsum("jab,jcd->jacbd", k, r).reshape(j, k.shape[1] * 2, k.shape[2] * 2)
        layer_u = rings[layer].to(k.dtype) @ k
        u = layer_u if u is None else layer_u @ u
    return u


class ReuploadLinear(QuantumLayer):
    """``(..., in_features) -> (..., out_features)`` by phase re-uploading (see module doc).

    Args:
        in_features, out_features: as ``nn.Linear``.
        n_qubits: register width (7 in S7); chunks have ``2**n_qubits`` features.
        depth: StronglyEntanglingLayers per trained unitary.
        scale: phase per unit of input (``D(x) = diag(exp(i * scale * x))``).
    """

    def __init__(self, in_features: int, out_features: int = 10, n_qubits: int = 7,
                 depth: int = 1, scale: float = 1.0) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.n_qubits, self.depth, self.scale = n_qubits, depth, scale
        self.dim = 1 << n_qubits
        self.n_chunks = math.ceil(in_features / self.dim)
        self.unitary_angles = _Angles(self.n_chunks, depth, n_qubits)
        self.out_scale = nn.Parameter(torch.ones(out_features))
        self.out_bias = nn.Parameter(torch.zeros(out_features))
        rings = torch.stack([cnot_ring(n_qubits, (layer % (n_qubits - 1)) + 1)
                             for layer in range(depth)])
        self.register_buffer("rings", rings, persistent=False)  # for unitaries()
        self.words = z_words(n_qubits, out_features)
        self.plans = PlanCache()  # the circuit's compiled plans (not module state)
        idx = torch.arange(self.dim)
        signs = torch.stack([
            (1 - 2 * (sum((idx >> (n_qubits - 1 - q)) & 1 for q in w) % 2)).float()
            for w in z_words(n_qubits, out_features)
        ], -1)
        self.register_buffer("signs", signs, persistent=False)

    def unitaries(self) -> torch.Tensor:
        """The trained ``(J, 2^n, 2^n)`` unitaries."""
        return entangling_unitaries(self.unitary_angles.theta, self.rings)

    def expectations(self, x: torch.Tensor) -> torch.Tensor:
        """``<Z_S>`` for each readout word: ``(B, in_features) -> (B, out_features)``.

        The circuit (module doc) runs on qclf's engine like every other circuit in the package:
        its plan is compiled once (kept in ``self.plans``) and the phase uploads are applied as
        diagonal multiplies, the trained layers as Kronecker products and one CNOT-ring gather.
        """
        b = x.shape[0]
        pad = self.n_chunks * self.dim - self.in_features
        chunks = nn.functional.pad(x, (0, pad)).reshape(b, self.n_chunks, self.dim)
        phases = torch.polar(torch.ones_like(chunks), self.scale * chunks)
        theta = self.unitary_angles.theta.to(x.dtype)
        wires = list(range(self.n_qubits))
        with qml.QueuingManager.stop_recording():
            ops = [qml.Hadamard(w) for w in wires]
            for j in range(self.n_chunks):
                ops.append(qml.DiagonalQubitUnitary(phases[:, j], wires=wires))
                ops.append(qml.StronglyEntanglingLayers(theta[j], wires=wires))
            mps = [qml.expval(qml.prod(*[qml.Z(w) for w in word]) if len(word) > 1
                              else qml.Z(word[0])) for word in self.words]  # fmt: skip
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        results = simulate(ops, mps, wires, dtype=dtype, device=x.device, cache=self.plans)
        return torch.stack(results, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.in_features, type(self).__name__)
        flat = x.reshape(-1, self.in_features)
        y = self.out_scale * self.expectations(flat) + self.out_bias
        return y.reshape(*x.shape[:-1], self.out_features)

    def classical_twin(self) -> nn.Module:
        """A classical map with ≈ the same trainable count (fixed random features + linear)."""
        n = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return matched_mlp(self.in_features, self.out_features, n, nn.Identity())


class _Angles(nn.Module):
    """The trained unitaries' angles (a quantum module for ``count_parameters``)."""

    is_quantum = True

    def __init__(self, n_chunks: int, depth: int, n_qubits: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.rand(n_chunks, depth, n_qubits, 3) * 2 * math.pi)

"""The gate table: one entry per gate kind the engine builds in closed form.

Each entry says whether the gate's matrix is real (a circuit of real gates keeps a real state
vector) and how to build its matrix from (possibly batched) real parameter tensors in one
vectorised step: parameters of shape ``(...)`` give matrices ``(..., K, K)``, so all gates of
one kind in a circuit are built together. Adding a gate is one entry. Gates without an entry
use PennyLane's ``compute_matrix`` (constant gates are built once per plan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

#: gates whose matrix is real even without a closed form here
REAL_CONSTANT_GATES = frozenset({
    "CNOT", "CZ", "Hadamard", "PauliX", "PauliZ", "SWAP", "CSWAP", "Toffoli", "CCZ",
    "MultiControlledX", "Identity",
})  # fmt: skip

#: operations that do not change measurement statistics
SKIPPED = frozenset({"Barrier", "Snapshot", "GlobalPhase", "Identity", "WireCut"})


@dataclass(frozen=True)
class GateSpec:
    """A closed-form gate: ``build(params, n_wires, cdtype) -> (..., K, K)``."""

    real: bool
    build: Callable[[list[torch.Tensor], int, torch.dtype], torch.Tensor]


def _stack2x2(entries, dtype):
    ents = torch.broadcast_tensors(*entries)
    m = torch.stack(ents, dim=-1)
    return m.reshape(*m.shape[:-1], 2, 2).to(dtype)


def _cx(re, im):
    re, im = torch.broadcast_tensors(re, im)
    return torch.complex(re, im)


def _ry(p, k, cdtype):
    c, s = torch.cos(p[0] / 2), torch.sin(p[0] / 2)
    return _stack2x2([c, -s, s, c], p[0].dtype)


def _rx(p, k, cdtype):
    c, s = torch.cos(p[0] / 2), torch.sin(p[0] / 2)
    z = torch.zeros_like(c)
    return _stack2x2([_cx(c, z), _cx(z, -s), _cx(z, -s), _cx(c, z)], cdtype)


def _rz(p, k, cdtype):
    c, s = torch.cos(p[0] / 2), torch.sin(p[0] / 2)
    z = torch.zeros_like(c)
    return _stack2x2([_cx(c, -s), _cx(z, z), _cx(z, z), _cx(c, s)], cdtype)


def _phase(p, k, cdtype):
    c, s = torch.cos(p[0]), torch.sin(p[0])
    z, one = torch.zeros_like(c), torch.ones_like(c)
    return _stack2x2([_cx(one, z), _cx(z, z), _cx(z, z), _cx(c, s)], cdtype)


def _rot(p, k, cdtype):
    phi, theta, omega = torch.broadcast_tensors(*p)
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    a, d = (phi + omega) / 2, (phi - omega) / 2
    ca, sa, cd, sd = torch.cos(a), torch.sin(a), torch.cos(d), torch.sin(d)
    return _stack2x2(
        [_cx(c * ca, -c * sa), _cx(-s * cd, -s * sd), _cx(s * cd, -s * sd), _cx(c * ca, c * sa)],
        cdtype,
    )


def _u3(p, k, cdtype):
    theta, phi, delta = torch.broadcast_tensors(*p)
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    z = torch.zeros_like(c)
    return _stack2x2(
        [
            _cx(c, z),
            _cx(-s * torch.cos(delta), -s * torch.sin(delta)),
            _cx(s * torch.cos(phi), s * torch.sin(phi)),
            _cx(c * torch.cos(phi + delta), c * torch.sin(phi + delta)),
        ],
        cdtype,
    )


def _controlled(one_qubit):
    def build(p, k, cdtype):
        m = one_qubit(p, 1, cdtype)
        out = torch.zeros(*m.shape[:-2], 4, 4, dtype=m.dtype, device=m.device)
        out[..., 0, 0] = 1
        out[..., 1, 1] = 1
        out[..., 2:, 2:] = m
        return out

    return build


def parity_signs(positions, n: int) -> np.ndarray:
    """+-1 per basis state: (-1)**(number of ones of the bits at ``positions``), wire 0 first."""
    idx = np.arange(1 << n)
    parity = np.zeros_like(idx)
    for p in positions:
        parity = parity + ((idx >> (n - 1 - p)) & 1)
    return (1 - 2 * (parity & 1)).astype(np.float64)


def _multi_rz(p, k, cdtype):  # diag(exp(-i t/2 z)), z = +-1 parity of all k bits
    t = p[0]
    z = torch.as_tensor(parity_signs(range(k), k), dtype=t.dtype, device=t.device)
    a = t[..., None] * z / 2
    return torch.diag_embed(torch.complex(torch.cos(a), -torch.sin(a)))


_PP = {  # P (x) P for the Ising gates: X(x)X and Y(x)Y (both real)
    "IsingXX": np.fliplr(np.eye(4)).copy(),
    "IsingYY": np.array([[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=float),
}


def _ising(name):
    def build(p, k, cdtype):  # cos(t/2) I - i sin(t/2) P(x)P
        t = p[0][..., None, None]
        pp = torch.as_tensor(_PP[name], dtype=t.dtype, device=t.device)
        eye = torch.eye(4, dtype=t.dtype, device=t.device)
        return torch.complex(torch.cos(t / 2) * eye, -torch.sin(t / 2) * pp)

    return build


GATES: dict[str, GateSpec] = {
    "RX": GateSpec(False, _rx),
    "RY": GateSpec(True, _ry),
    "RZ": GateSpec(False, _rz),
    "PhaseShift": GateSpec(False, _phase),
    "Rot": GateSpec(False, _rot),
    "U3": GateSpec(False, _u3),
    "CRX": GateSpec(False, _controlled(_rx)),
    "CRY": GateSpec(True, _controlled(_ry)),
    "CRZ": GateSpec(False, _controlled(_rz)),
    "CRot": GateSpec(False, _controlled(_rot)),
    "ControlledPhaseShift": GateSpec(False, _controlled(_phase)),
    "MultiRZ": GateSpec(False, _multi_rz),
    "IsingZZ": GateSpec(False, _multi_rz),
    "IsingXX": GateSpec(False, _ising("IsingXX")),
    "IsingYY": GateSpec(False, _ising("IsingYY")),
}


def is_real_gate(name: str) -> bool:
    spec = GATES.get(name)
    return spec.real if spec is not None else name in REAL_CONSTANT_GATES


def complex_of(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def to_dtype(m, dtype: torch.dtype, device) -> torch.Tensor:
    """A matrix (numpy or torch) as ``dtype`` on ``device`` (the real part for real dtypes)."""
    if not isinstance(m, torch.Tensor):
        m = torch.as_tensor(np.asarray(m), device=device)
    else:
        m = m.to(device=device)
    if not dtype.is_complex and m.is_complex():
        m = m.real
    return m.to(dtype)

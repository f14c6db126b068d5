"""Gate matrices as closed-form entries, all gates of a circuit in one vectorised step.

Every entry of every closed-form gate in :mod:`.gates` has the form

    scale * cos(theta . a + a0) * exp(i (theta . b + b0))

with constant ``scale`` in {0, +-1}, phase offsets ``a0``, ``b0`` and coefficient vectors
``a``, ``b`` over the gate's parameters ``theta`` (e.g. RY: ``[c, -s, s, c]`` with
``s = cos(theta/2 - pi/2)``). Stacking the coefficients of all gates of a circuit into two
constant (parameters x entries) matrices builds every gate matrix in five torch operations,
forward and backward, however many gates there are (:class:`EntryTable`). A test checks each
specification against :data:`.gates.GATES` and PennyLane's matrices.
"""

from __future__ import annotations

import numpy as np
import torch

from .gates import parity_signs

_HPI = np.pi / 2


def _one(n_params: int, spec) -> tuple[np.ndarray, ...]:
    """(scale, a (P, 4), a0, b (P, 4), b0) from four entries given as (scale, a, a0, b, b0)."""
    scale = np.array([e[0] for e in spec], dtype=np.float64)
    a = np.array([e[1] for e in spec], dtype=np.float64).reshape(4, n_params).T
    a0 = np.array([e[2] for e in spec], dtype=np.float64)
    b = np.array([e[3] for e in spec], dtype=np.float64).reshape(4, n_params).T
    b0 = np.array([e[4] for e in spec], dtype=np.float64)
    return scale, a, a0, b, b0


_0, _H = 0.0, 0.5
SINGLE = {  # name: (params, four entries (scale, a, a0, b, b0) in order 00, 01, 10, 11)
    "RX": (1, [(1, [_H], 0, [_0], 0), (1, [_H], -_HPI, [_0], -_HPI),
               (1, [_H], -_HPI, [_0], -_HPI), (1, [_H], 0, [_0], 0)]),
    "RY": (1, [(1, [_H], 0, [_0], 0), (-1, [_H], -_HPI, [_0], 0),
               (1, [_H], -_HPI, [_0], 0), (1, [_H], 0, [_0], 0)]),
    "RZ": (1, [(1, [_0], 0, [-_H], 0), (0, [_0], 0, [_0], 0),
               (0, [_0], 0, [_0], 0), (1, [_0], 0, [_H], 0)]),
    "PhaseShift": (1, [(1, [_0], 0, [_0], 0), (0, [_0], 0, [_0], 0),
                       (0, [_0], 0, [_0], 0), (1, [_0], 0, [1.0], 0)]),
    "Rot": (3, [(1, [0, _H, 0], 0, [-_H, 0, -_H], 0), (-1, [0, _H, 0], -_HPI, [_H, 0, -_H], 0),
                (1, [0, _H, 0], -_HPI, [-_H, 0, _H], 0), (1, [0, _H, 0], 0, [_H, 0, _H], 0)]),
    "U3": (3, [(1, [_H, 0, 0], 0, [0, 0, 0], 0), (-1, [_H, 0, 0], -_HPI, [0, 0, 1], 0),
               (1, [_H, 0, 0], -_HPI, [0, 1, 0], 0), (1, [_H, 0, 0], 0, [0, 1, 1], 0)]),
}  # fmt: skip

CONTROLLED = {"CRX": "RX", "CRY": "RY", "CRZ": "RZ", "CRot": "Rot",
              "ControlledPhaseShift": "PhaseShift"}  # fmt: skip


def _controlled(name: str) -> tuple[np.ndarray, ...]:
    p, spec = SINGLE[name]
    s1, a1, a01, b1, b01 = _one(p, spec)
    scale, a0, b0 = np.zeros(16), np.zeros(16), np.zeros(16)
    a, b = np.zeros((p, 16)), np.zeros((p, 16))
    scale[[0, 5]] = 1  # |00><00|, |01><01|
    for e, (i, j) in enumerate([(2, 2), (2, 3), (3, 2), (3, 3)]):
        f = 4 * i + j
        scale[f], a[:, f], a0[f], b[:, f], b0[f] = s1[e], a1[:, e], a01[e], b1[:, e], b01[e]
    return scale, a, a0, b, b0


def _multi_rz(k: int) -> tuple[np.ndarray, ...]:
    dim = 1 << k
    idx = np.arange(dim)
    z = parity_signs(range(k), k)
    scale, b = np.zeros(dim * dim), np.zeros((1, dim * dim))
    diag = idx * dim + idx
    scale[diag] = 1
    b[0, diag] = -z / 2
    return scale, np.zeros((1, dim * dim)), np.zeros(dim * dim), b, np.zeros(dim * dim)


def _ising(pp: np.ndarray) -> tuple[np.ndarray, ...]:
    """cos(t/2) I - i sin(t/2) P(x)P for a real P(x)P with entries in {0, +-1}."""
    scale, a, a0, b0 = np.zeros(16), np.zeros((1, 16)), np.zeros(16), np.zeros(16)
    for f in range(16):
        i, j = divmod(f, 4)
        if i == j:
            scale[f], a[0, f] = 1, _H
        elif pp[i, j] != 0:  # -i s * pp = s * exp(-+ i pi/2)
            scale[f], a[0, f], a0[f], b0[f] = 1, _H, -_HPI, -_HPI * pp[i, j]
    return scale, a, a0, np.zeros((1, 16)), b0


_XX = np.fliplr(np.eye(4))
_YY = np.array([[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=float)


def entry_spec(name: str, k: int) -> tuple[np.ndarray, ...] | None:
    """(scale, a (P, K*K), a0, b (P, K*K), b0) of a closed-form gate on ``k`` wires, or None."""
    if name in SINGLE and k == 1:
        return _one(*SINGLE[name])
    if name in CONTROLLED and k == 2:
        return _controlled(CONTROLLED[name])
    if name == "MultiRZ" or (name == "IsingZZ" and k == 2):
        return _multi_rz(k)
    if name == "IsingXX" and k == 2:
        return _ising(_XX)
    if name == "IsingYY" and k == 2:
        return _ising(_YY)
    return None


class EntryTable:
    """The entries of a list of gates as one vector (gate after gate, each row-major K x K):
    :meth:`build` from the flat parameters. ``items``: ``[(spec, flat_u indices of its
    parameters)]`` with ``spec`` from :func:`entry_spec` (or any table of the same form, e.g.
    the diagonal of a run of commuting phase gates)."""

    def __init__(self, items, size: int, rdtype, device):
        n_ent = sum(spec[0].size for spec, _ in items)
        scale, a0, b0 = np.zeros(n_ent), np.zeros(n_ent), np.zeros(n_ent)
        a, b = np.zeros((size, n_ent)), np.zeros((size, n_ent))
        off = 0
        for (s, ga, ga0, gb, gb0), idx in items:
            e = s.size
            scale[off:off + e], a0[off:off + e], b0[off:off + e] = s, ga0, gb0
            for j, u in enumerate(idx):
                a[u, off:off + e] += ga[j]
                b[u, off:off + e] += gb[j]
            off += e
        self.size = n_ent
        self.complex = bool(np.any(b) or np.any(b0))
        t = lambda v: torch.as_tensor(v, device=device).to(rdtype)  # noqa: E731
        used = np.flatnonzero(np.any(a, 1) | np.any(b, 1))  # parameters these gates read
        self.used = torch.as_tensor(used, device=device)
        self.scale, self.a, self.a0 = t(scale), t(a[used]), t(a0)
        self.b, self.b0 = t(b[used]), t(b0)
        self._ones = torch.ones(n_ent, dtype=rdtype, device=device)

    def build_saving(self, flat_u: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """:meth:`build` without autograd, with what :meth:`backward` needs."""
        theta = flat_u.index_select(0, self.used).to(self.a.dtype)[None]
        pre = torch.addmm(self.a0[None], theta, self.a)[0]
        mag = pre.cos() * self.scale
        if not self.complex:
            return mag, (pre, None, None)
        ph = torch.polar(self._ones, torch.addmm(self.b0[None], theta, self.b)[0])
        return mag * ph, (pre, mag, ph)

    def backward(self, saved: tuple, grad: torch.Tensor) -> torch.Tensor:
        """Gradient of the parameters ``flat_u[self.used]`` from the entries' gradient."""
        pre, mag, ph = saved
        if ph is None:
            gmag, gang = (grad.real if grad.is_complex() else grad), None
        else:
            z = grad.conj() * ph  # d entry / d mag = ph, d entry / d angle = i entry
            gmag, gang = z.real, -mag * z.imag
        out = self.a @ (-gmag * self.scale * pre.sin())
        if gang is not None:
            out = out + self.b @ gang
        return out

    def build_parts(self, flat_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`build` as (real, imaginary) parts (imaginary None for a real table), in real
        operations only (for ``torch.compile``, :mod:`.compiled`)."""
        theta = flat_u.index_select(0, self.used).to(self.a.dtype)[None]
        mag = torch.addmm(self.a0[None], theta, self.a).cos()[0] * self.scale
        if not self.complex:
            return mag, None
        ang = torch.addmm(self.b0[None], theta, self.b)[0]
        return mag * ang.cos(), mag * ang.sin()

    def build(self, flat_u: torch.Tensor) -> torch.Tensor:
        """All entries (real, or complex when any gate is complex) for this call's parameters."""
        theta = flat_u.index_select(0, self.used).to(self.a.dtype)[None]
        mag = torch.addmm(self.a0[None], theta, self.a).cos()[0] * self.scale
        if not self.complex:
            return mag
        ang = torch.addmm(self.b0[None], theta, self.b)[0]
        return mag * torch.polar(self._ones, ang)  # polar's backward needs abs >= 0


def entry_vector(table: EntryTable | None, consts: torch.Tensor, flat_u: torch.Tensor | None,
                 dtype: torch.dtype) -> tuple[torch.Tensor, tuple | None]:  # fmt: skip
    """One call's entry vector without autograd, as the gather tables index it: the table's
    entries (built in double precision, then cast to ``dtype``) followed by the constant
    entries ``consts`` (already in ``dtype``); and what :meth:`EntryTable.backward` needs."""
    if table is None:
        return consts, None
    e, saved = table.build_saving(flat_u)
    return torch.cat([e.to(dtype), consts]), saved

"""Batched torch state-vector simulator for recorded PennyLane circuits.

The simulator takes the operations and measurements of a recorded circuit (a
``QuantumScript`` / tape) whose parameters are torch tensors, some of them carrying a
leading broadcast (batch) dimension, and evaluates all batch elements at once with plain
torch operations, so autograd flows to every parameter.

Strategy
--------
* Templates are decomposed (``op.decomposition()``) until every operation has a matrix;
  ``StatePrep``/``AmplitudeEmbedding`` are kept whole and become a (batched) initial state.
* States are real tensors ``(b, 2, ..., 2, c)``: ``c == 1`` for real amplitudes, ``c == 2``
  for (re, im); a state only becomes complex when a complex gate touches it, so circuits
  of RY/CNOT/CZ/H... never pay for complex numbers.
* Single-qubit operations on a wire before any multi-qubit operation touches it commute
  with everything before them on other wires; data-dependent ones (and weight-only ones
  before any data) are folded into per-wire single-qubit states and the initial state is
  their Kronecker product (angle embeddings from ``|0...0>`` never touch the full state
  vector; an RX embedding is built as the real RY one followed by a constant S^dagger).
* Runs of unbatched (weight-only / constant) operations are merged into blocks of at most
  3 wires and, when a cost model says it pays, fused into one unitary on the wires they
  touch (built by applying the blocks to the identity); it is applied to the whole batch
  as one GEMM. Data-dependent operations are applied gate by gate with closed-form batched
  matrices for common gates (``op.matrix()`` otherwise). Gate axes are moved lazily (one
  copy per gate at most, none when already in place).
* Expectation values of Pauli words / sums of Pauli words: rotate to the Z basis
  (measurements sharing a compatible basis share one rotation, which is fused into the
  circuit when a single basis covers all of them) and contract ``|amplitude|^2`` with
  +-1 sign vectors in one GEMM; other observables use their diagonalizing gates and
  eigenvalues; ``probs`` marginalises ``|amplitude|^2``; ``var`` from the same pieces.

Precision follows the parameters: float32 -> float32/complex64 arithmetic, float64 ->
float64/complex128. Every tensor is created on the parameters' (or the given) device.
Anything that cannot be simulated raises :class:`UnsupportedCircuit`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pennylane as qml
import torch
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP

__all__ = ["UnsupportedCircuit", "simulate", "expand_operations"]


class UnsupportedCircuit(Exception):
    """Raised when a circuit contains something the batched simulator does not handle."""


# operations that do not change measurement statistics of the state
_SKIP = {"Barrier", "Snapshot", "GlobalPhase", "Identity", "WireCut"}
# operations whose matrix is real: a circuit made only of these keeps a real state vector
_REAL_OPS = {
    "RY", "CRY", "CNOT", "CZ", "Hadamard", "PauliX", "PauliZ", "SWAP", "CSWAP", "Toffoli",
    "CCZ", "MultiControlledX", "Identity", "StatePrep", "AmplitudeEmbedding",
}  # fmt: skip
_CLOSED_FORM = {
    "RX", "RY", "RZ", "PhaseShift", "Rot", "U3", "CRX", "CRY", "CRZ", "CRot",
    "ControlledPhaseShift", "MultiRZ", "IsingXX", "IsingYY", "IsingZZ",
}  # fmt: skip
# P (x) P for the Ising gates (real: X(x)X, and Y(x)Y = -[[0,0,0,1],[0,0,-1,0],...])
_PP = {
    "IsingXX": np.fliplr(np.eye(4)).copy(),
    "IsingYY": np.array([[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=float),
}
_MAX_MATRIX_WIRES = 8  # ops wider than this are decomposed when possible
_FUSE_MAX_WIRES = 10
_SMALL_STATE = 1 << 14  # below this many amplitudes in the batch, apply gates one by one
_BLOCK_MAX_WIRES = 3  # consecutive weight-only gates on <= this many wires become one matrix


# ---------------------------------------------------------------------------- utilities


def _is_state_prep(op) -> bool:
    return isinstance(op, qml.StatePrep)


def expand_operations(ops: Sequence) -> list:
    """Decompose operations until each one has a matrix (or is a state preparation)."""
    out: list = []

    def visit(op, depth):
        if depth > 64:
            raise UnsupportedCircuit(f"decomposition of {op.name} is too deep")
        name = op.name
        if name in _SKIP:
            return
        if _is_state_prep(op):
            out.append(op)
            return
        if name in _CLOSED_FORM or (op.has_matrix and len(op.wires) <= _MAX_MATRIX_WIRES):
            out.append(op)
            return
        if op.has_decomposition:
            try:
                sub = op.decomposition()
            except Exception as exc:  # noqa: BLE001 - any failure means "not supported"
                if op.has_matrix:
                    out.append(op)
                    return
                raise UnsupportedCircuit(f"cannot decompose {name}: {exc}") from exc
            for s in sub:
                visit(s, depth + 1)
            return
        if op.has_matrix:
            out.append(op)
            return
        raise UnsupportedCircuit(f"operation {name} has neither a matrix nor a decomposition")

    with qml.QueuingManager.stop_recording():
        for op in ops:
            visit(op, 0)
    return out


def _param(p, rdtype, device) -> torch.Tensor:
    if isinstance(p, torch.Tensor):
        if p.is_complex():
            raise UnsupportedCircuit("complex gate parameter")
        return p.to(device=device, dtype=rdtype)
    return torch.as_tensor(np.asarray(p, dtype=np.float64), dtype=rdtype, device=device)


def _to_state_dtype(m, sdtype, device) -> torch.Tensor:
    if not isinstance(m, torch.Tensor):
        m = torch.as_tensor(np.asarray(m), device=device)
    else:
        m = m.to(device=device)
    if not sdtype.is_complex and m.is_complex():
        m = m.real
    return m.to(sdtype)


def _stack2x2(entries, sdtype):
    """entries: 4 tensors (or complex pairs) broadcastable to a common shape -> (..., 2, 2)."""
    ents = torch.broadcast_tensors(*entries)
    m = torch.stack(ents, dim=-1)
    return m.reshape(*m.shape[:-1], 2, 2).to(sdtype)


def _cx(re, im):
    re, im = torch.broadcast_tensors(re, im)
    return torch.complex(re, im)


def _closed_form_1q(name, params, sdtype):
    """2x2 matrix of a single-qubit rotation with (possibly batched) real parameters."""
    if name == "RY":
        (t,) = params
        c, s = torch.cos(t / 2), torch.sin(t / 2)
        return _stack2x2([c, -s, s, c], sdtype)
    z = None
    if name == "RX":
        (t,) = params
        c, s = torch.cos(t / 2), torch.sin(t / 2)
        z = torch.zeros_like(c)
        return _stack2x2([_cx(c, z), _cx(z, -s), _cx(z, -s), _cx(c, z)], sdtype)
    if name == "RZ":
        (t,) = params
        c, s = torch.cos(t / 2), torch.sin(t / 2)
        z = torch.zeros_like(c)
        return _stack2x2([_cx(c, -s), _cx(z, z), _cx(z, z), _cx(c, s)], sdtype)
    if name == "PhaseShift":
        (t,) = params
        c, s = torch.cos(t), torch.sin(t)
        z = torch.zeros_like(c)
        one = torch.ones_like(c)
        return _stack2x2([_cx(one, z), _cx(z, z), _cx(z, z), _cx(c, s)], sdtype)
    if name == "Rot":
        phi, theta, omega = torch.broadcast_tensors(*params)
        c, s = torch.cos(theta / 2), torch.sin(theta / 2)
        a, d = (phi + omega) / 2, (phi - omega) / 2
        ca, sa, cd, sd = torch.cos(a), torch.sin(a), torch.cos(d), torch.sin(d)
        return _stack2x2(
            [
                _cx(c * ca, -c * sa),
                _cx(-s * cd, -s * sd),
                _cx(s * cd, -s * sd),
                _cx(c * ca, c * sa),
            ],
            sdtype,
        )
    if name == "U3":
        theta, phi, delta = torch.broadcast_tensors(*params)
        c, s = torch.cos(theta / 2), torch.sin(theta / 2)
        z = torch.zeros_like(c)
        return _stack2x2(
            [
                _cx(c, z),
                _cx(-s * torch.cos(delta), -s * torch.sin(delta)),
                _cx(s * torch.cos(phi), s * torch.sin(phi)),
                _cx(c * torch.cos(phi + delta), c * torch.sin(phi + delta)),
            ],
            sdtype,
        )
    raise KeyError(name)


_CONTROLLED = {
    "CRX": "RX", "CRY": "RY", "CRZ": "RZ", "CRot": "Rot", "ControlledPhaseShift": "PhaseShift",
}  # fmt: skip


class _Ctx:
    """Per-simulation settings and a cache of constant gate matrices.

    Matrices are real (``rdtype``) for gates whose matrix is real and complex (``cdtype``)
    otherwise; the state only becomes complex when a complex gate touches it.
    """

    _const_cache: dict = {}

    def __init__(self, rdtype, device):
        self.rdtype = rdtype
        self.cdtype = _complex_of(rdtype)
        self.device = device
        self._pre: dict[int, torch.Tensor] = {}
        self.wire_pos: dict = {}
        self._posc: dict[int, list[int]] = {}
        self._batc: dict[int, bool] = {}

    def pos(self, op) -> list[int]:
        """Wire positions of ``op`` (memoised: PennyLane's wire handling is slow)."""
        p = self._posc.get(id(op))
        if p is None:
            try:
                p = [self.wire_pos[w] for w in op.wires]
            except KeyError as exc:
                raise UnsupportedCircuit(f"operation {op.name} on unknown wire {exc}") from exc
            self._posc[id(op)] = p
        return p

    def batched(self, op) -> bool:
        b = self._batc.get(id(op))
        if b is None:
            b = self._batc[id(op)] = _op_batched(op)
        return b

    def prefetch(self, ops) -> None:
        """Compute closed-form matrices of same-type gates together (one set of torch ops
        per gate type and parameter shape instead of one per gate)."""
        groups: dict = {}
        for op in ops:
            if op.name in _CLOSED_FORM and op.num_params:
                shapes = tuple(tuple(getattr(p, "shape", ())) for p in op.data)
                if len(set(shapes)) != 1:
                    continue
                groups.setdefault((op.name, len(self.pos(op)), shapes), []).append(op)
        for (name, k, _), group in groups.items():
            if len(group) < 2:
                continue
            params = [
                torch.stack([_param(op.data[i], self.rdtype, self.device) for op in group])
                for i in range(group[0].num_params)
            ]
            mats = self._closed_form(name, params, k)
            for g, op in enumerate(group):
                self._pre[id(op)] = mats[g]

    def _closed_form(self, name, params, k=1):
        mdtype = self.rdtype if name in _REAL_OPS else self.cdtype
        if name in ("MultiRZ", "IsingZZ"):  # diag(exp(-i t/2 z)), z = +-1 parity signs
            z = self.const(("zsigns", k), lambda: _sign_vector_np(range(k), k), self.rdtype)
            a = params[0][..., None] * z / 2
            return torch.diag_embed(torch.complex(torch.cos(a), -torch.sin(a)))
        if name in ("IsingXX", "IsingYY"):  # cos(t/2) I - i sin(t/2) P(x)P
            pp = self.const(("pp", name), lambda: _PP[name], self.rdtype)
            t = params[0][..., None, None]
            eye = self.const(("eye", 4), lambda: np.eye(4), self.rdtype)
            return torch.complex(torch.cos(t / 2) * eye, -torch.sin(t / 2) * pp)
        if name in _CONTROLLED:
            m = _closed_form_1q(_CONTROLLED[name], params, mdtype)
            out = torch.zeros(*m.shape[:-2], 4, 4, dtype=mdtype, device=self.device)
            out[..., 0, 0] = 1
            out[..., 1, 1] = 1
            out[..., 2:, 2:] = m
            return out
        return _closed_form_1q(name, params, mdtype)

    def const(self, key, fn, dtype=None):
        """Cached constant matrix on the device; real if its values are real."""
        key = (*key, str(self.device), self.rdtype, dtype)
        m = self._const_cache.get(key)
        if m is None:
            val = np.asarray(fn())
            if dtype is None:
                real = not np.iscomplexobj(val) or not np.any(np.imag(val))
                dtype = self.rdtype if real else self.cdtype
            m = _to_state_dtype(val, dtype, self.device)
            if len(self._const_cache) > 4096:
                self._const_cache.clear()
            self._const_cache[key] = m
        return m

    def matrix(self, op) -> torch.Tensor:
        """Matrix of ``op``: (K, K) or batched (B, K, K), real or complex."""
        name = op.name
        if op.num_params == 0:
            hyper = tuple(
                (k, repr(v)) for k, v in sorted(op.hyperparameters.items()) if "wires" not in k
            )
            return self.const((name, len(self.pos(op)), hyper), op.matrix)
        mdtype = self.rdtype if name in _REAL_OPS else self.cdtype
        if name in _CLOSED_FORM:
            m = self._pre.get(id(op))
            if m is not None:
                return m
            params = [_param(p, self.rdtype, self.device) for p in op.data]
            return self._closed_form(name, params, len(self.pos(op)))
        try:
            m = op.matrix()
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedCircuit(f"matrix of {name} failed: {exc}") from exc
        return _to_state_dtype(m, mdtype, self.device)


# ------------------------------------------------------------------------- state updates


def _realify(m: torch.Tensor, c_in: int) -> tuple[torch.Tensor, int]:
    """Real (c_in*K, c_out*K) matrix W with ``v_real @ W == (M v)_real``.

    The state's last axis holds (re, im) when ``c == 2`` (a lone real part when ``c == 1``);
    flattening (K, c) gives the row index (j, c_in) and the column index (i, c_out).
    """
    kk = m.shape[-1]
    if not m.is_complex():
        if c_in == 1:
            return m.transpose(0, 1), 1
        z = torch.zeros_like(m)
        w = torch.stack([torch.stack([m.T, z.T], -1), torch.stack([z.T, m.T], -1)], 1)
        return w.reshape(2 * kk, 2 * kk), 2
    mr, mi = m.real.transpose(0, 1), m.imag.transpose(0, 1)
    if c_in == 1:
        return torch.stack([mr, mi], -1).reshape(kk, 2 * kk), 2
    w = torch.stack([torch.stack([mr, mi], -1), torch.stack([-mi, mr], -1)], 1)
    return w.reshape(2 * kk, 2 * kk), 2


class _State:
    """A batch of state vectors stored as a real tensor ``(b, 2, ..., 2, c)``.

    ``c == 1``: real amplitudes; ``c == 2``: (real, imaginary) parts. All arithmetic is
    real, so circuits of real gates (RY, CNOT, ...) never pay for complex numbers and
    complex ones avoid torch's slow complex reductions. The wire axes are kept in a lazy
    order: applying a gate moves its target axes to the end (one copy, none when they are
    already there) and multiplies with the realified matrix from the right, a single GEMM
    over batch and spectator amplitudes; ``canonical()`` restores the wire order once.
    """

    def __init__(self, t: torch.Tensor, n: int):
        """``t``: (b, 2**n, c) real."""
        self.n = n
        self.c = t.shape[-1]
        self.t = t.reshape(t.shape[0], *([2] * n), self.c)
        self.order = list(range(n))  # logical wire position held by physical axis i + 1

    def _to_end(self, pos):
        n, k = self.n, len(pos)
        t = self.t
        if self.order[n - k :] != pos:
            new_order = [p for p in self.order if p not in pos] + pos
            t = t.permute([0] + [1 + self.order.index(p) for p in new_order] + [n + 1])
            self.order = new_order
        return t

    def apply(self, m: torch.Tensor, pos: Sequence[int]) -> None:
        """Apply a (K, K) or batched (B, K, K) matrix (real or complex) on wire positions."""
        pos = list(pos)
        kk = 1 << len(pos)
        n = self.n
        t = self._to_end(pos)
        b = t.shape[0]
        if m.dim() == 2 and (m.is_complex() or self.c == 2) and (b << n) < _SMALL_STATE:
            # small state: complex GEMM through zero-copy complex views (fewest torch ops)
            if self.c == 1:
                vc = t.reshape(b, -1, kk).to(m.dtype if m.is_complex() else _complex_of(t.dtype))
            else:
                vc = torch.view_as_complex(t.reshape(b, -1, kk, 2).contiguous())
            mc = m if m.is_complex() else m.to(vc.dtype)
            out = torch.view_as_real(torch.matmul(vc, mc.transpose(0, 1)))
            self.c = 2
            self.t = out.reshape(b, *([2] * n), 2)
            return
        if m.dim() == 2:
            w, c_out = _realify(m, self.c)
            out = torch.matmul(t.reshape(b, -1, kk * self.c), w)  # one (rows, cK) @ (cK, c'K)
            self.c = c_out
            self.t = out.reshape(b, *([2] * n), c_out)
            return
        # batched matrix: elementwise over the batch
        if m.is_complex() or self.c == 2:
            if self.c == 1:
                v = torch.complex(t[..., 0], torch.zeros_like(t[..., 0]))
            else:
                v = torch.view_as_complex(t.contiguous())
            if not m.is_complex():
                m = m.to(v.dtype)
        else:
            v = t[..., 0]
        bb = max(b, m.shape[0])
        v = v.reshape(b, -1, kk)
        mt = m.transpose(1, 2)[:, None]  # (B, 1, K, K)
        if kk <= 4:
            out = v[..., 0:1] * mt[..., 0, :]
            for j in range(1, kk):
                out = out + v[..., j : j + 1] * mt[..., j, :]
        else:
            if b == 1 and m.shape[0] != 1:
                v = v.expand(m.shape[0], *v.shape[1:])
            out = torch.matmul(v, mt[:, 0])
        if out.is_complex():
            self.t = torch.view_as_real(out).reshape(bb, *([2] * n), 2)
            self.c = 2
        else:
            self.t = out.reshape(bb, *([2] * n), 1)
            self.c = 1

    def canonical(self) -> torch.Tensor:
        """The state as a real (b, 2**n, c) tensor in wire order."""
        t = self.t
        n = self.n
        if self.order != list(range(n)):
            t = t.permute([0] + [1 + self.order.index(p) for p in range(n)] + [n + 1])
            self.t, self.order = t, list(range(n))
        return t.reshape(t.shape[0], -1, self.c)


def _as_pair(s: torch.Tensor) -> torch.Tensor:
    """Real/complex (..., K) -> real (..., K, c)."""
    if s.is_complex():
        return torch.view_as_real(s)
    return s[..., None]


def _cmul(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Product of pair tensors (..., c1) * (..., c2) -> (..., c)."""
    if a.shape[-1] == 1 and s.shape[-1] == 1:
        return a * s
    if a.shape[-1] == 1:
        return a * s
    if s.shape[-1] == 1:
        return a * s
    ar, ai, sr, si = a[..., 0], a[..., 1], s[..., 0], s[..., 1]
    return torch.stack([ar * sr - ai * si, ar * si + ai * sr], -1)


def _kron_factors(factors, n, rdtype, device):
    """Kronecker product of blocks ``[(positions, (b, 2**k) real/complex)]`` -> (b, 2**n, c).

    Each new block becomes the most significant part of the index (concatenation along the
    amplitude axis, whose backward needs no slow small-axis reductions).
    """
    order: list[int] = []
    psi = None
    for positions, s in reversed(factors):
        order = list(positions) + order
        s = _as_pair(s)  # (b, K, c)
        if psi is None:
            psi = s
        else:
            psi = torch.cat([_cmul(psi, si[:, None]) for si in s.unbind(1)], dim=1)
    if psi is None:
        psi = torch.ones(1, 1, 1, dtype=rdtype, device=device)
    if order != list(range(n)):
        b, c = psi.shape[0], psi.shape[-1]
        v = psi.reshape(b, *([2] * n), c)
        perm = [0] + [1 + order.index(p) for p in range(n)] + [n + 1]
        psi = v.permute(perm).reshape(b, -1, c)
    return psi


# --------------------------------------------------------------------------- measurement


def _sign_vector_np(positions, n):
    idx = np.arange(1 << n)
    parity = np.zeros_like(idx)
    for p in positions:
        parity = parity + ((idx >> (n - 1 - p)) & 1)
    return (1 - 2 * (parity & 1)).astype(np.float64)


def _probs_from_state(psi):
    """(b, 2**n, c) real pair -> (b, 2**n) probabilities."""
    sq = psi * psi
    if psi.shape[-1] == 1:
        return sq.reshape(sq.shape[:-1])
    return sq.sum(-1)


def _marginal(p, positions, n):
    """p: (b, 2**n) -> (b, 2**len(positions)) with the given position order."""
    b = p.shape[0]
    positions = list(positions)
    if positions == list(range(n)):
        return p
    v = p.reshape(b, *([2] * n))
    rest = [a + 1 for a in range(n) if a not in positions]
    if rest:
        v = v.sum(dim=rest)
    kept = sorted(positions)
    perm = [0] + [1 + kept.index(q) for q in positions]
    return v.permute(perm).reshape(b, -1)


_H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
_HSDG = np.array([[1, -1j], [1, 1j]]) / np.sqrt(2)


class _Frame:
    """A measurement basis: wire position -> 'X' | 'Y' | 'Z' (or explicit diagonalizing ops)."""

    def __init__(self, bases=None, diag_ops=None):
        self.bases = dict(bases or {})
        self.diag_ops = diag_ops
        self.sign_terms: list = []  # list of position tuples
        self.values = None
        self.probs = None

    def compatible(self, bases):
        if self.diag_ops is not None:
            return False
        return all(self.bases.get(w, b) == b for w, b in bases.items())

    def add(self, bases, positions):
        self.bases.update(bases)
        key = tuple(positions)
        if key not in self.sign_terms:
            self.sign_terms.append(key)
        return self.sign_terms.index(key)


class _ConstGate:
    """A lightweight constant gate (no PennyLane operator construction per call)."""

    num_params = 0
    data = ()
    batch_size = None
    hyperparameters: dict = {}
    has_matrix = True

    def __init__(self, name, wire, matrix):
        self.name = name
        self.wires = [wire]
        self._m = matrix

    def matrix(self):
        return self._m


_SDG = np.diag([1, -1j])  # RX(t)|0> = S^dagger RY(t)|0>


def _single_frame_rotation(mps, wire_pos):
    """Basis-change ops if every measurement is a Pauli expval/var and all of them share
    one compatible basis (e.g. <Y_i> on every wire); else None. Appending these to the
    circuit lets them fuse with the last weight-only unitary."""
    bases: dict = {}
    for mp in mps:
        if type(mp) not in (ExpectationMP, VarianceMP) or mp.obs is None:
            return None
        ps = mp.obs.pauli_rep
        if ps is None:
            return None
        if isinstance(mp, VarianceMP) and len(ps) > 1:
            return None
        for word in ps:
            for w, b in word.items():
                if w not in wire_pos:
                    return None
                if bases.setdefault(w, b) != b:
                    return None
    ops = []
    for w, b in bases.items():
        if b == "X":
            ops.append(_ConstGate("Hadamard", w, _H))
        elif b == "Y":
            ops.append(_ConstGate("HSdg", w, _HSDG))
    return ops


def _measure(psi, mps, wire_pos, n, ctx: _Ctx, batched: bool, prerotated: bool = False):
    frames: list[_Frame] = []

    def frame_for_word(word):
        bases = {wire_pos[w]: b for w, b in word.items() if b != "I"}
        for fi, f in enumerate(frames):
            if f.compatible(bases):
                return fi, f.add(bases, sorted(bases))
        f = _Frame()
        frames.append(f)
        return len(frames) - 1, f.add(bases, sorted(bases))

    def positions_of(wires):
        try:
            return [wire_pos[w] for w in wires]
        except KeyError as exc:
            raise UnsupportedCircuit(f"measurement on unknown wire {exc}") from exc

    def plan_sentence(ps):
        terms = []
        for word, coeff in ps.items():
            if len(word) == 0:
                terms.append((None, None, coeff))
            else:
                positions_of(word.keys())
                fi, ti = frame_for_word(word)
                terms.append((fi, ti, coeff))
        return terms

    plans = []
    for mp in mps:
        if type(mp) not in (ExpectationMP, VarianceMP, ProbabilityMP):
            raise UnsupportedCircuit(f"measurement {type(mp).__name__} is not supported")
        if getattr(mp, "mv", None) is not None:
            raise UnsupportedCircuit("measurement of a mid-circuit measurement value")
        if isinstance(mp, ProbabilityMP):
            if mp.obs is not None:
                raise UnsupportedCircuit("probs of an observable")
            wires = mp.wires if len(mp.wires) else list(wire_pos)
            plans.append(("probs", positions_of(wires)))
            continue
        obs = mp.obs
        if obs is None:
            raise UnsupportedCircuit("expval/var without observable")
        if getattr(obs, "batch_size", None) is not None:
            raise UnsupportedCircuit("broadcast observable")
        ps = obs.pauli_rep
        if ps is not None:
            if isinstance(mp, VarianceMP) and len(ps) > 1:
                plans.append(("var_sentence", plan_sentence(ps), plan_sentence(ps @ ps)))
            elif isinstance(mp, VarianceMP):
                plans.append(("var_sentence1", plan_sentence(ps)))
            else:
                plans.append(("expval_sentence", plan_sentence(ps)))
            continue
        try:
            diag = obs.diagonalizing_gates()
            eig = obs.eigvals()
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedCircuit(f"observable {obs.name} cannot be diagonalized") from exc
        f = _Frame(diag_ops=expand_operations(diag))
        f.probs_positions = positions_of(obs.wires)
        frames.append(f)
        kind = "var_generic" if isinstance(mp, VarianceMP) else "expval_generic"
        plans.append((kind, len(frames) - 1, eig))

    # evaluate frames
    p_all = None
    for f in frames:
        if f.diag_ops is not None:
            st = _State(psi, n)
            for op in f.diag_ops:
                _apply_op(st, op, wire_pos, ctx)
            f.probs = _marginal(_probs_from_state(st.canonical()), f.probs_positions, n)
            continue
        rot = [(p, b) for p, b in sorted(f.bases.items()) if b in ("X", "Y")]
        if prerotated:
            rot = []
        st_f = psi
        if rot:
            st = _State(psi, n)
            for p, b in rot:
                st.apply(ctx.const(("rot", b), lambda b=b: _H if b == "X" else _HSDG), [p])
            st_f = st.canonical()
        if f.sign_terms:
            # sum over (re, im) folded into the GEMM with the +-1 sign vectors
            c = st_f.shape[-1]
            sq = (st_f * st_f).reshape(st_f.shape[0], -1)
            s = ctx.const(
                ("signs", n, c, tuple(f.sign_terms)),
                lambda f=f, c=c: np.repeat(
                    np.stack([_sign_vector_np(t, n) for t in f.sign_terms], 1), c, axis=0
                ),
                sq.dtype,
            )
            f.values = sq @ s  # (b, T)

    def eval_sentence(terms, like):
        total = None
        for fi, ti, coeff in terms:
            val = torch.ones_like(like) if fi is None else frames[fi].values[:, ti]
            coeff = _real_coeff(coeff, val.device)
            term = val if _is_one(coeff) else val * coeff
            total = term if total is None else total + term
        if total is None:
            total = torch.zeros_like(like)
        return total

    like = torch.zeros(psi.shape[0], dtype=ctx.rdtype, device=psi.device)
    results = []
    for plan in plans:
        kind = plan[0]
        if kind == "probs":
            if p_all is None:
                p_all = _probs_from_state(psi)
            r = _marginal(p_all, plan[1], n)
        elif kind == "expval_sentence":
            r = eval_sentence(plan[1], like)
        elif kind == "var_sentence1":
            ((fi, ti, coeff),) = plan[1]
            if fi is None:
                r = torch.zeros_like(like)
            else:
                e = frames[fi].values[:, ti]
                c = _real_coeff(coeff, e.device)
                r = (1 - e * e) * (c * c)
        elif kind == "var_sentence":
            e = eval_sentence(plan[1], like)
            r = eval_sentence(plan[2], like) - e * e
        else:
            f = frames[plan[1]]
            eig = _param(
                np.real(np.asarray(plan[2]))
                if not isinstance(plan[2], torch.Tensor)
                else plan[2].real,
                f.probs.dtype,
                f.probs.device,
            )
            e = f.probs @ eig
            r = e if kind == "expval_generic" else f.probs @ (eig * eig) - e * e
        r = r.to(ctx.rdtype)
        if r.shape[0] == 1 and like.shape[0] != 1:
            r = r.expand(like.shape[0], *r.shape[1:])
        results.append(r if batched else r[0])
    return results


def _real_coeff(c, device=None):
    if isinstance(c, complex | np.complexfloating):
        return c.real
    if isinstance(c, torch.Tensor):
        if c.is_complex():
            c = c.real
        return c.to(device) if device is not None else c
    return c


def _is_one(c):
    if isinstance(c, torch.Tensor):
        return False
    try:
        return float(c) == 1.0
    except (TypeError, ValueError):
        return False


def _complex_of(dtype):
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _apply_op(state: _State, op, wire_pos, ctx, pos=None) -> None:
    if pos is None:
        pos = ctx.pos(op)
    state.apply(ctx.matrix(op), pos)


def _first_columns(items, ctx, as_ry=frozenset()) -> dict:
    """{wire position: R|0>} for [(position, RX/RY op)], grouped by type and shape;
    positions in ``as_ry`` get the RY column (their S is applied elsewhere)."""
    groups: dict = {}
    for p, op in items:
        name = "RY" if p in as_ry else op.name
        groups.setdefault((name, tuple(getattr(op.data[0], "shape", ()))), []).append((p, op))
    out = {}
    for (name, _), group in groups.items():
        t = torch.stack([_param(op.data[0], ctx.rdtype, ctx.device) for _, op in group])
        c, s = torch.cos(t / 2), torch.sin(t / 2)
        if name == "RY":
            cols = torch.stack([c, s], -1)
        else:  # RX|0> = (cos, -i sin)
            z = torch.zeros_like(c)
            cols = torch.complex(torch.stack([c, z], -1), torch.stack([z, -s], -1))
        for g, (p, _) in enumerate(group):
            out[p] = cols[g]
    return out


def _block_unitary(blocks, local_positions, k, ctx) -> torch.Tensor:
    """Unitary on ``k`` wires of a sequence of (positions, matrix) blocks (applied to I)."""
    ust = _State(torch.eye(1 << k, dtype=ctx.rdtype, device=ctx.device)[..., None], k)
    for (_, m), lp in zip(blocks, local_positions, strict=True):
        ust.apply(m, lp)
    r = ust.canonical()  # row j is U e_j: r = U^T
    u_t = r[..., 0] if r.shape[-1] == 1 else torch.complex(r[..., 0], r[..., 1])
    return u_t.transpose(0, 1)


def _blocks(run, wire_pos, ctx, max_k: int = _BLOCK_MAX_WIRES):
    """Greedily merge consecutive unbatched ops acting on at most ``max_k`` wires together
    into one matrix each: [(positions, matrix)]. Fewer, slightly larger applications to the
    big batched state."""
    out = []
    cur: list = []
    cur_w: list[int] = []

    def flush():
        if not cur:
            return
        if len(cur) == 1:
            out.append((cur_w[:], ctx.matrix(cur[0][0])))
        else:
            ws = sorted(cur_w)
            local = {p: i for i, p in enumerate(ws)}
            mats = [(pos, ctx.matrix(o)) for o, pos in cur]
            lps = [[local[p] for p in pos] for _, pos in cur]
            out.append((ws, _block_unitary(mats, lps, len(ws), ctx)))

    for o in run:
        pos = ctx.pos(o)
        union = cur_w + [p for p in pos if p not in cur_w]
        if cur and len(union) > max_k:
            flush()
            cur, cur_w = [], []
            union = list(pos)
        cur.append((o, pos))
        cur_w = union
    flush()
    return out


#: fuse weight-only runs of small states with :func:`_layered_unitary` (toggle for timing)
SMALL_FUSE = True
_SMALL_FUSE_MAX_WIRES = 7


def _const_key(op, pos):
    hyper = tuple((k, repr(v)) for k, v in sorted(op.hyperparameters.items()) if "wires" not in k)
    return (op.name, tuple(pos), hyper)


def _layered_unitary(run, wires, ctx) -> torch.Tensor:
    """Unitary of a run of unbatched ops on the sorted positions ``wires``.

    The run is split into segments: single-qubit layers (composed per wire, then one
    Kronecker product over all ``wires``) and multi-qubit blocks (built by
    :func:`_block_unitary`; cached when every op in the block is constant). The result is the
    product of the segment matrices, ``(K, K)`` with ``wires[0]`` most significant.
    """
    k = len(wires)
    local = {p: i for i, p in enumerate(wires)}
    segs: list = []  # ("kron", {local: 2x2}) | ("block", [(op, local positions)])
    for o in run:
        lp = [local[p] for p in ctx.pos(o)]
        if len(lp) == 1:
            if not segs or segs[-1][0] != "kron":
                segs.append(("kron", {}))
            segs[-1][1].setdefault(lp[0], []).append(o)
        else:
            if not segs or segs[-1][0] != "block":
                segs.append(("block", []))
            segs[-1][1].append((o, lp))
    mats = []
    for kind, content in segs:
        if kind == "kron":
            per = []
            for q in range(k):
                m = None
                for o in content.get(q, ()):
                    g = ctx.matrix(o)
                    if m is None:
                        m = g
                    else:
                        if g.is_complex() != m.is_complex():
                            g, m = g.to(ctx.cdtype), m.to(ctx.cdtype)
                        m = g @ m
                per.append(m)
            cplx = any(m is not None and m.is_complex() for m in per)
            dt = ctx.cdtype if cplx else ctx.rdtype
            u = None
            for m in per:
                m = torch.eye(2, dtype=dt, device=ctx.device) if m is None else m.to(dt)
                u = m if u is None else torch.kron(u, m)
            mats.append(u)
        else:

            def build(content=content):
                blocks = [(lp, ctx.matrix(o)) for o, lp in content]
                return _block_unitary(blocks, [lp for lp, _ in blocks], k, ctx)

            if all(o.num_params == 0 for o, _ in content):
                key = ("layered", k, tuple(_const_key(o, lp) for o, lp in content))
                u = ctx._const_cache.get((*key, str(ctx.device), ctx.rdtype))
                if u is None:
                    with torch.no_grad():
                        u = build()
                    ctx._const_cache[(*key, str(ctx.device), ctx.rdtype)] = u
            else:
                u = build()
            mats.append(u)
    total = None
    for m in mats:
        if total is None:
            total = m
            continue
        if m.is_complex() != total.is_complex():
            m, total = m.to(ctx.cdtype), total.to(ctx.cdtype)
        total = m @ total
    return total


# ------------------------------------------------------------------------------ simulate


def _op_batched(op) -> bool:
    data = op.data
    if data and all(getattr(d, "ndim", None) == 0 or isinstance(d, float | int) for d in data):
        # a broadcast parameter has more dimensions than the op's ndim_params (>= 0): scalar
        # parameters are never batched (skips PennyLane's slow _check_batching)
        return False
    try:
        return op.batch_size is not None
    except Exception:  # noqa: BLE001
        return True


def simulate(
    circuit,
    measurements=None,
    wire_order=None,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    fuse: bool = True,
):
    """Simulate a recorded circuit with batched torch state vectors.

    Args:
        circuit: a ``QuantumScript``/tape, or a sequence of operations (then
            ``measurements`` must be given).
        measurements: measurement processes (``expval``, ``var``, ``probs``); taken from
            the tape when ``circuit`` is a tape.
        wire_order: wires of the register (default: the circuit's wires in order of
            appearance). ``probs()`` without wires covers this whole register.
        dtype: real dtype of the computation (float32 -> complex64 state, float64 ->
            complex128). Default: the dtype of the first torch parameter, else float64.
        device: torch device. Default: the device of the first torch parameter, else CPU.
        fuse: fuse runs of unbatched gates into one unitary.

    Returns:
        list of torch tensors, one per measurement, shaped like PennyLane's results:
        expval/var -> ``(B,)`` (``()`` unbatched), probs -> ``(B, 2**k)`` (``(2**k,)``).

    Raises:
        UnsupportedCircuit: if something in the circuit cannot be simulated here.
    """
    if measurements is None:
        ops, measurements = list(circuit.operations), list(circuit.measurements)
        if wire_order is None:
            wire_order = circuit.wires
    else:
        ops = list(circuit)
        if wire_order is None:
            wire_order = qml.wires.Wires.all_wires(
                [op.wires for op in ops] + [m.wires for m in measurements]
            )
    wire_order = list(wire_order)
    n = len(wire_order)
    wire_pos = {w: i for i, w in enumerate(wire_order)}

    with qml.QueuingManager.stop_recording():
        ops = expand_operations(ops)

    if dtype is None or device is None:
        first = next((p for op in ops for p in op.data if isinstance(p, torch.Tensor)), None)
        if dtype is None:
            dtype = first.dtype if first is not None and first.is_floating_point() else None
            dtype = dtype or torch.float64
        if device is None:
            device = first.device if first is not None else torch.device("cpu")
    rdtype = dtype if dtype in (torch.float32, torch.float64) else torch.float64
    ctx = _Ctx(rdtype, torch.device(device))
    with qml.QueuingManager.stop_recording():
        return _simulate(ops, measurements, wire_pos, n, ctx, fuse)


def _simulate(ops, measurements, wire_pos, n, ctx: _Ctx, fuse: bool):
    ctx.wire_pos = wire_pos
    for op in ops:
        ctx.pos(op)  # validates the wires
    batched = any(ctx.batched(op) for op in ops)

    # ---- 1. initial product state: state preps + single-qubit ops on untouched wires
    entangled: set[int] = set()
    touched: set[int] = set()
    folded: dict[int, list] = {}  # wire position -> single-qubit ops folded into its state
    factors: list = []  # (positions, state (b, 2**k))
    rest: list = []
    for op in ops:
        pos = ctx.pos(op)
        if _is_state_prep(op):
            if any(p in touched for p in pos):
                raise UnsupportedCircuit(f"{op.name} after other operations on its wires")
            st = op.data[0]
            cplx = st.is_complex() if isinstance(st, torch.Tensor) else np.iscomplexobj(st)
            st = _to_state_dtype(st, ctx.cdtype if cplx else ctx.rdtype, ctx.device)
            if st.dim() == 1:
                st = st[None]
            if st.shape[-1] != 1 << len(pos):
                raise UnsupportedCircuit(f"{op.name} state has the wrong size")
            factors.append((pos, st))
            touched.update(pos)
            entangled.update(pos)
            continue
        if len(pos) == 1 and pos[0] not in entangled:
            # fold data-dependent gates, and weight-only ones while the wire is unbatched;
            # a weight-only gate after the encoding is better fused with the ansatz (it
            # would otherwise e.g. make the whole product state complex)
            wops = folded.setdefault(pos[0], [])
            if ctx.batched(op) or not any(ctx.batched(o) for o in wops):
                wops.append(op)
                touched.add(pos[0])
                continue
        rest.append(op)
        touched.update(pos)
        entangled.update(pos)

    # RX/RY as the first gate on |0>: only the first column is needed, computed for all
    # such gates of one type together. A lone RX on a wire is S^dagger RY |0>: the real RY
    # column is used and the constant S^dagger joins the (fused) rest of the circuit, so that angle
    # embeddings with RX keep a real product state.
    inv_pos = {p: w for w, p in wire_pos.items()}
    lone_rx = [p for p, wops in folded.items() if len(wops) == 1 and wops[0].name == "RX"]
    if lone_rx and rest:
        rest = [_ConstGate("Sdg", inv_pos[p], _SDG) for p in lone_rx] + rest
    else:
        lone_rx = []
    first_cols = _first_columns(
        [(p, wops[0]) for p, wops in folded.items() if wops[0].name in ("RX", "RY")],
        ctx,
        as_ry=set(lone_rx),
    )
    ctx.prefetch(
        [o for p, wops in folded.items() for o in wops[1 if p in first_cols else 0 :]] + rest
    )
    wire_state: dict[int, torch.Tensor] = {}
    for p, wops in folded.items():
        s = first_cols.get(p)
        for op in wops[1:] if s is not None else wops:
            m = ctx.matrix(op)
            if s is None:
                s = m[..., :, 0]
                continue
            if m.is_complex() and not s.is_complex():
                s = s.to(m.dtype)
            elif s.is_complex() and not m.is_complex():
                m = m.to(s.dtype)
            s = (m @ s[..., None])[..., 0]
        wire_state[p] = s if s.dim() == 2 else s[None]

    zero = None
    for p in range(n):
        if any(p in f[0] for f in factors):
            continue
        s = wire_state.get(p)
        if s is None:
            if zero is None:
                zero = torch.zeros(1, 2, dtype=ctx.rdtype, device=ctx.device)
                zero[0, 0] = 1
            s = zero
        factors.append(([p], s))
    factors.sort(key=lambda f: min(f[0]) if f[0] else -1)
    state = _State(_kron_factors(factors, n, ctx.rdtype, ctx.device), n)

    # measurement basis change folded into the circuit when a single frame covers all
    rotation = _single_frame_rotation(measurements, wire_pos)
    if rotation:
        rest = rest + rotation

    # ---- 2. remaining ops: fuse unbatched runs, apply batched ops gate by gate
    i = 0
    while i < len(rest):
        op = rest[i]
        if ctx.batched(op) or not fuse:
            _apply_op(state, op, wire_pos, ctx)
            i += 1
            continue
        j = i
        wires: list[int] = []
        while j < len(rest) and not ctx.batched(rest[j]):
            for p in ctx.pos(rest[j]):
                if p not in wires:
                    wires.append(p)
            j += 1
        run = rest[i:j]
        k = len(wires)
        if state.t.shape[0] << n < _SMALL_STATE:  # small: per-op overhead dominates
            if SMALL_FUSE and len(run) > 1 and k <= _SMALL_FUSE_MAX_WIRES:
                # one unitary from layers of single-qubit gates (a Kronecker product per
                # layer) and cached constant blocks: far fewer torch ops forward and backward
                wires.sort()
                state.apply(_layered_unitary(run, wires, ctx), wires)
            else:
                for o in run:
                    _apply_op(state, o, wire_pos, ctx)
            i = j
            continue
        blocks = _blocks(run, wire_pos, ctx)
        # cost model (multiply-adds + ~3 copies per application): fuse the run if cheaper
        per_state = sum((1 << len(bp)) + 3 for bp, _ in blocks)
        b = state.t.shape[0]
        gate_by_gate = b * (1 << n) * per_state
        fused = (1 << k) * (1 << k) * per_state + b * (1 << n) * ((1 << k) + 3)
        if len(blocks) > 1 and k <= _FUSE_MAX_WIRES and fused < gate_by_gate:
            wires.sort()
            local = {p: idx for idx, p in enumerate(wires)}
            u = _block_unitary(blocks, [[local[p] for p in bp] for bp, _ in blocks], k, ctx)
            state.apply(u, wires)
        else:
            for bp, m in blocks:
                state.apply(m, bp)
        i = j

    # ---- 3. measurements
    return _measure(
        state.canonical(), measurements, wire_pos, n, ctx, batched, prerotated=bool(rotation)
    )

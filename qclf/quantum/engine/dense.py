"""The compiled program: a whole circuit on at most ``DENSE_MAX_WIRES`` qubits as a few dense
steps, compiled once per plan.

At training batch sizes a circuit of a few qubits costs almost nothing in arithmetic; what costs
is the number of torch operations per call (each one is dispatched forward and recorded for
autograd, then run backward). This program keeps that number small and independent of the
number of gates:

1. **Product state.** A first batched RX/RY on each wire (angle encodings), after nothing but
   constant single-qubit gates on it, gives a product state, built wire by wire from the last
   (a first RX is S^dagger RY S, constant gates before the rotation become one constant matrix
   after it: these join the next unitary, so the state stays real).
2. **Segments** ``psi <- D_k(x) W_k psi``. ``W_k`` is the unitary of the gates that do not
   depend on the batch (weights and constants); ``D_k`` the diagonal phases of the batched
   gates. Every batched closed-form gate is a product of rotations ``F exp(i theta h) F^dagger``
   with a constant frame ``F`` (a Clifford on the gate's wires; identity for RZ, CRZ, MultiRZ,
   ...) and a constant real vector ``h`` (:data:`TERMS`). The frames join the unitaries around
   ``D_k``; the phases of all batched gates of a segment are ``exp(i Theta @ H)``: one GEMM of
   the (batch, terms) angles (feature products for IQP) with the constant (terms, 2**n) table
   ``H``. Gates commute into the current segment when their wires are free of its phases, so a
   layer of data-dependent rotations is one segment, not one per wire.
3. **Unitaries from moments** (:func:`_moments`). The gates of a ``W_k`` are packed into
   moments of one kind: parametrised gates on disjoint wires, constant gates, or commuting
   phase gates on any wires. Every gate entry of the segment comes from one closed-form table
   (:class:`.entries.EntryTable`: five torch operations for all gates), and every moment's full
   2**n x 2**n matrix is one gather of the entry vector with a constant index table and a
   product over the moment's gates (sparse moments, a few gates on many wires, gather only
   their structurally nonzero entries and scatter the products into zeros). Runs of constant
   moments are multiplied at compile time; constant permutations with phases (CNOT rings,
   S^dagger) fold into a neighbouring moment's index table, a phase moment into a neighbour as
   one more gathered factor. The moments are multiplied together (batches of at least
   ``PRODUCT_MIN_RATIO x 2**n`` circuits) or applied to the state one by one.
4. **One autograd node.** The whole program runs in :class:`.fused.FusedProgram` with a
   hand-written adjoint backward; gates without a table entry (their matrix built by
   PennyLane) run the same steps under autograd (:meth:`DenseProgram.final_state_autograd`).

Registers of 7 to ``PROGRAM_MAX_WIRES`` qubits use the same segments with block steps instead
of whole-register matrices (:mod:`.blocks`).

A circuit this program cannot express (state preparations, gates decomposed anew at every call,
a batched gate without a rotation form) runs on the general schedule (:mod:`.execute`).
"""

from __future__ import annotations

import numpy as np
import torch

from . import thresholds
from .bind import Bound
from .entries import EntryTable, entry_spec, entry_vector
from .fused import (
    FusedProgram,
    _mm_t,
    chunked_index,
    conj,
    differentiable_grads,
    gather_prod_backward,
    grad_to_real_state,
    needs_autograd_backward,
    outer_sum,
    take,
)
from .gates import complex_of, parity_signs
from .kernels import Monomial, _match, apply_contiguous, local_index
from .plan import Gate

_H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
_SH = np.array([[1, 0], [0, 1j]]) @ _H  # S H: S H Z (S H)^dagger = Y
_Z = np.array([-0.5, 0.5])
_I2 = np.eye(2)
_J = np.array([[0.0, -1.0], [1.0, 0.0]])  # RY(t) = cos(t/2) I + sin(t/2) J


def _on_target(m):
    return np.kron(_I2, m)


#: batched gates as rotations in application order: (frame on the gate's wires or None,
#: h on the gate's wires, parameter index). gate = prod F exp(i p h) F^dagger (exactly, no
#: global phase is dropped: controlled gates stay right).
TERMS: dict[str, list[tuple]] = {
    "RZ": [(None, _Z, 0)],
    "RX": [(_H, _Z, 0)],
    "RY": [(_SH, _Z, 0)],
    "PhaseShift": [(None, np.array([0.0, 1.0]), 0)],
    "Rot": [(None, _Z, 0), (_SH, _Z, 1), (None, _Z, 2)],
    "U3": [(None, np.array([0.0, 1.0]), 2), (_SH, _Z, 0), (None, np.array([0.0, 1.0]), 1)],
    "CRZ": [(None, np.kron([0, 1], _Z), 0)],
    "CRX": [(_on_target(_H), np.kron([0, 1], _Z), 0)],
    "CRY": [(_on_target(_SH), np.kron([0, 1], _Z), 0)],
    "CRot": [(None, np.kron([0, 1], _Z), 0), (_on_target(_SH), np.kron([0, 1], _Z), 1),
             (None, np.kron([0, 1], _Z), 2)],  # fmt: skip
    "ControlledPhaseShift": [(None, np.array([0.0, 0, 0, 1]), 0)],
    "IsingZZ": [(None, -np.array([1.0, -1, -1, 1]) / 2, 0)],
    "IsingXX": [(np.kron(_H, _H), -np.array([1.0, -1, -1, 1]) / 2, 0)],
    "IsingYY": [(np.kron(_SH, _SH), -np.array([1.0, -1, -1, 1]) / 2, 0)],
}


def _terms(g: Gate) -> list[tuple] | None:
    if g.name == "MultiRZ":  # exp(-i t/2 Z...Z): h = -parity signs / 2
        return [(None, -parity_signs(range(len(g.pos)), len(g.pos)) / 2, 0)]
    return TERMS.get(g.name)


# ------------------------------------------------------------------------- GatherProd


class GatherProd(torch.autograd.Function):
    """``out[...] = prod_s entries[index[s, ...]]``: every moment's full matrix (index (S, M,
    X)) or nonzero entries (index (S, N), :func:`_nonzero_index`) from one entry vector in one
    pass; the backward scatters ``grad * prod_{t != s}`` (prefix and suffix products, exact
    with zero entries) back onto the entries."""

    @staticmethod
    def forward(ctx, entries, index):
        g = take(entries, index)  # (S, M, X)
        ctx.save_for_backward(entries, index)
        return g.prod(0)

    @staticmethod
    def backward(ctx, grad):
        entries, index = ctx.saved_tensors
        if needs_autograd_backward(grad):  # create_graph or vmap: autograd's product rule
            return differentiable_grads(lambda: take(entries, index).prod(0), grad,
                                        (entries,), (True,))[0], None  # fmt: skip
        return gather_prod_backward(entries, index, grad).to(entries.dtype), None


# ------------------------------------------------------------------------------ compile


def _full(m: np.ndarray, pos, n: int) -> np.ndarray:
    """A gate matrix on ``pos`` as a 2**n x 2**n matrix (numpy, compile time)."""
    loc = local_index(pos, n)
    others = [p for p in range(n) if p not in pos]
    rl = local_index(others, n) if others else np.zeros(1 << n, dtype=np.int64)
    same = rl[:, None] == rl[None, :]
    return np.where(same, m[loc[:, None], loc[None, :]], 0)


def _is_diagonal(g: Gate) -> bool:
    """A parametrised phase gate (RZ, CRZ, MultiRZ, ...) with scalar weight parameters."""
    if g.const is not None or g.batched:
        return False
    terms = _terms(g)
    return (terms is not None and len(terms) == 1 and terms[0][0] is None
            and all(kind == "u" and v.dim() == 0 for kind, v in g.srcs))  # fmt: skip


def _moments(gates: list[Gate], n: int) -> tuple[list[list[Gate]], list[str]]:
    """Pack gates into moments of one kind each: ``const``, ``param`` (gates on disjoint
    wires) or ``diag`` (commuting phase gates, on any wires). Each gate joins the first moment
    of its kind after the last one touching its wires (with its wires free, unless diagonal);
    runs of constant moments then multiply at compile time (a CNOT ring stays one constant
    matrix between two rotation layers) and a run of phase gates is one diagonal."""
    moments: list[list[Gate]] = []
    kinds: list[str] = []
    used: list[set[int]] = []
    last = [-1] * n  # last moment touching each wire
    last_solid = [-1] * n  # last moment touching each wire that is not diagonal
    for g in gates:
        kind = "const" if g.const is not None else "diag" if _is_diagonal(g) else "param"
        start = max((last_solid if kind == "diag" else last)[p] for p in g.pos) + 1
        for m in range(start, len(moments)):
            if kinds[m] == kind and (kind == "diag" or not used[m] & set(g.pos)):
                break
        else:
            m = len(moments)
            moments.append([])
            kinds.append(kind)
            used.append(set())
        moments[m].append(g)
        used[m].update(g.pos)
        for p in g.pos:
            last[p] = max(last[p], m)
            if kind != "diag":
                last_solid[p] = m
    return moments, kinds


def _table_item(g: Gate) -> tuple | None:
    """``(entry spec, flat_u indices)`` of a parametrised gate the entry table builds (a
    closed-form gate with scalar weight parameters), else None."""
    spec = entry_spec(g.name, len(g.pos))
    if spec is None or not all(k == "u" and v.dim() == 0 for k, v in g.srcs):
        return None
    return spec, [int(v) for _, v in g.srcs]


def _table_items(moment: list[Gate], items: list, offsets: dict, size: int
                 ) -> tuple[int, list[Gate]]:
    """Append the entry-table items of a moment's parametrised gates to ``items``, each at
    ``offsets[id(gate)]`` from ``size`` on; returns the new size and the parametrised gates
    without a table entry."""
    missing = []
    for g in moment:
        if g.const is not None:
            continue
        item = _table_item(g)
        if item is None:
            missing.append(g)
            continue
        items.append(item)
        offsets[id(g)] = size
        size += 1 << (2 * len(g.pos))
    return size, missing


def _const_items(gates, consts: list, offsets: dict, size: int) -> int:
    """Append the row-major entries of the constant gates among ``gates`` (not yet placed)
    to ``consts``, each at ``offsets[id(gate)]`` from ``size`` on; returns the new size."""
    for g in gates:
        if g.const is not None and id(g) not in offsets:
            offsets[id(g)] = size
            e = g.const.detach().cpu().numpy().reshape(-1)
            consts.append(e)
            size += e.size
    return size


def _padded_slots(tables: list[np.ndarray], one: int) -> list[np.ndarray]:
    """Gather tables (slots x positions) with their slots that gather only ``one`` (the entry
    1) dropped, then padded with ``one`` to one slot count: every slot costs a pass over the
    gathered entries forward and two backward."""
    tables = [t[(t != one).any(1)] for t in tables]
    tables = [t if t.shape[0] else np.full((1, t.shape[1]), one) for t in tables]
    width = max(t.shape[0] for t in tables)
    return [np.vstack([t, np.full((width - t.shape[0], t.shape[1]), one)]) for t in tables]


def _gather_index(tables: list[np.ndarray], one: int, device) -> torch.Tensor:
    """The index (S, M, X) of the moments' gather tables (:func:`_padded_slots`)."""
    return torch.as_tensor(np.stack(_padded_slots(tables, one), 1), device=device)


def _nonzero_index(tables: list[np.ndarray], one: int, zeros: np.ndarray, device
                   ) -> tuple[torch.Tensor | None, torch.Tensor | None]:  # fmt: skip
    """The gather index (S, N) of the moments' structurally nonzero entries and their
    positions (N,) in the stacked (moments x 4**n) matrices, or (None, None) when more than
    ``thresholds.DENSE_SPARSE_MAX_FILL`` of the entries are nonzero. A moment of a few gates
    on a wide register is mostly zeros (a lone one-qubit gate on 6 qubits: 128 of 4,096
    entries, the idle wires' slot gathering the entry 0 everywhere else); gathering only the
    nonzero entries and scattering their products into zero matrices saves that work forward
    and backward. Structural zeros: a slot reading the entry 0 or a constant entry 0."""
    x = tables[0].shape[1]
    kept, positions = [], []
    for m, t in enumerate(tables):
        nz = ~np.isin(t, zeros).any(0)
        kept.append(t[:, nz])
        positions.append(m * x + np.flatnonzero(nz))
    if sum(p.size for p in positions) > thresholds.DENSE_SPARSE_MAX_FILL * x * len(tables):
        return None, None
    index = np.hstack(_padded_slots(kept, one))
    return (torch.as_tensor(index, device=device),
            torch.as_tensor(np.concatenate(positions), device=device))  # fmt: skip


def _moment_matrices(products: torch.Tensor, positions, n_moments: int, dim: int
                     ) -> torch.Tensor:  # fmt: skip
    """(moments, dim, dim) from the gathered products: as they are, or scattered into zeros
    at their ``positions`` (:func:`_nonzero_index`); differentiable."""
    if positions is not None:
        products = products.new_zeros(n_moments * dim * dim).index_copy(0, positions, products)
    return products.reshape(-1, dim, dim)


def _diag_spec(moment: list[Gate], n: int) -> tuple[tuple, list[int]]:
    """Entry-table spec of the 2**n phases exp(i sum_g theta_g h_g) of a diagonal moment."""
    dim = 1 << n
    b = np.zeros((len(moment), dim))
    for r, g in enumerate(moment):
        ((_, h, _),) = _terms(g)
        b[r] = np.asarray(h, dtype=np.float64)[local_index(g.pos, n)]
    zeros = np.zeros(dim)
    spec = (np.ones(dim), np.zeros((len(moment), dim)), zeros, b, zeros)
    return spec, [int(g.srcs[0][1]) for g in moment]


class _Unitary:
    """The compiled unitary of one segment's batch-independent gates (module doc, step 3).

    ``factors``: in application order, ``("const", tensor)`` or ``("moment", m)`` (row ``m``
    of the gathered moment matrices)."""

    def __init__(self, gates: list[Gate], n: int, plan):
        self.n = n
        self.dim = dim = 1 << n
        moments, kinds = _moments(gates, n)
        self.singles: list[Gate] = []  # parametrised gates built one by one
        offsets: dict[int, int] = {}
        size = 0
        items: list[tuple] = []
        for mo, kind in zip(moments, kinds, strict=True):
            if kind == "diag":
                spec, idx = _diag_spec(mo, n)
                items.append((spec, idx))
                offsets[id(mo)] = size
                size += dim
                continue
            size, missing = _table_items(mo, items, offsets, size)
            self.singles.extend(missing)
        self.table = None
        if items:
            self.table = EntryTable(items, plan.flat_u_size, torch.float64, plan.device)
        for g in self.singles:
            offsets[id(g)] = size
            size += 1 << (2 * len(g.pos))
        # constant gates inside parametrised moments: their entries follow
        const_entries: list[np.ndarray] = []
        for mo, kind in zip(moments, kinds, strict=True):
            if kind == "param":
                size = _const_items(mo, const_entries, offsets, size)
        self.one, self.zero = size, size + 1
        const_entries.append(np.array([1.0, 0.0]))
        # factors: runs of constant moments multiplied at compile time
        x = dim * dim
        rows, cols = np.divmod(np.arange(x), dim)
        self.factors: list[tuple] = []
        tables: list[np.ndarray] = []
        diag_of: dict[int, np.ndarray] = {}  # table -> its phases' entry offsets (diagonal)
        pending = None
        width = max((len(mo) for mo in moments), default=0) + 1
        for mo, kind in zip(moments, kinds, strict=True):
            if kind == "const":
                c = np.eye(dim)
                for g in mo:
                    c = _full(g.const.detach().cpu().numpy(), g.pos, n) @ c
                pending = c if pending is None else c @ pending
                continue
            if pending is not None:
                self.factors.append(("const", pending))
                pending = None
            if kind == "diag":
                off = offsets[id(mo)]
                t = np.full((width, x), self.one, dtype=np.int64)
                t[0] = np.where(rows == cols, off + rows, self.zero)
                diag_of[len(tables)] = off
            else:
                t = self._table(mo, offsets, width, x)
            tables.append(t)
            self.factors.append(("moment", len(tables) - 1))
        if pending is not None:
            self.factors.append(("const", pending))
        tables = self._merge_diagonals(tables, diag_of, rows, cols)
        extra = self._fold_monomials(tables)
        consts = np.concatenate(const_entries + extra)
        self.complex = ((self.table is not None and self.table.complex)
                        or bool(np.iscomplexobj(consts) and np.any(np.imag(consts)))
                        or bool(self.singles))  # fmt: skip
        rdtype, cdtype = plan.rdtype, complex_of(plan.rdtype)
        self.const_entries = torch.as_tensor(
            consts if self.complex else np.real(consts), device=plan.device
        ).to(cdtype if self.complex else rdtype)
        self.index = self.positions = None
        if tables:
            used = sorted({v for k, v in self.factors if k == "moment"})
            renum = {old: new for new, old in enumerate(used)}
            tables = [tables[i] for i in used]
            self.factors = [(k, renum[v] if k == "moment" else v) for k, v in self.factors]
            n_entries = (self.table.size if self.table is not None else 0) + sum(
                1 << (2 * len(g.pos)) for g in self.singles
            ) + self.const_entries.shape[0]
            zeros = n_entries - consts.shape[0] + np.flatnonzero(consts == 0)  # incl. zero
            self.n_moments = len(tables)
            self.index, self.positions = _nonzero_index(tables, self.one, zeros, plan.device)
            if self.positions is None:
                self.index = _gather_index(tables, self.one, plan.device)
            self.chunked = chunked_index(self.index, n_entries)
        self.factors = [(k, _const_tensor(v, plan) if k == "const" else v)
                        for k, v in self.factors]  # fmt: skip
        if any(k == "const" and v.is_complex() for k, v in self.factors):
            self.complex = True

    def _merge_diagonals(self, tables, diag_of, rows, cols):
        """A diagonal moment next to another moment becomes one more gather slot of it:
        ``(D M)[i, j] = d_i M[i, j]`` (after it) or ``(M D)[i, j] = M[i, j] d_j`` (before)."""
        out: list[tuple] = []
        carry = None  # a diagonal waiting for the next moment
        for kind, v in self.factors:
            if kind == "moment" and v in diag_of:
                if out and out[-1][0] == "moment" and carry is None:
                    prev = out[-1][1]
                    tables[prev] = np.vstack([tables[prev], diag_of[v] + rows])
                    continue
                if carry is not None:
                    out.append(("moment", carry))
                carry = v
                continue
            if kind == "moment" and carry is not None:
                tables[v] = np.vstack([tables[v], diag_of[carry] + cols])
                carry = None
            elif carry is not None:
                out.append(("moment", carry))
                carry = None
            out.append((kind, v))
        if carry is not None:
            out.append(("moment", carry))
        self.factors = out
        return tables

    def _fold_monomials(self, tables: list[np.ndarray]) -> list[np.ndarray]:
        """Fold constant permutations with phases (CNOT rings, S^dagger, ...) into the moment
        before them (rows: ``(C M)[i, j] = ph_i M[src_i, j]``) or after them (columns:
        ``(M C)[i, j] = M[i, k] ph_k`` with ``src_k = j``): a gather costs nothing more, a
        factor costs a GEMM forward and two backward. Returns the phase vectors it appended to
        the constant entries (each gets its own gather slot)."""
        dim = self.dim
        rows, cols = np.divmod(np.arange(dim * dim), dim)
        extra: list[np.ndarray] = []
        start = self.zero + 1

        def fold(t, src, phase, by_row):
            nonlocal start
            t = t[:, src[rows] * dim + cols] if by_row else t[:, rows * dim + src[cols]]
            if phase is not None:
                at = rows if by_row else src[cols]
                t = np.vstack([t, start + at])
                extra.append(phase)
                start += dim
            return t

        out: list[tuple] = []
        pending_cols: list = []  # monomials waiting for the next moment
        for kind, v in self.factors:
            if kind == "const":
                mono = Monomial.of_matrix(v, tuple(range(self.n)), self.n)
                if mono is not None and out and out[-1][0] == "moment" and not pending_cols:
                    i = out[-1][1]
                    tables[i] = fold(tables[i], mono.src, mono.phase, True)
                    continue
                if mono is not None:
                    pending_cols.append((v, mono))
                    continue
                out.extend(("const", c) for c, _ in pending_cols)
                pending_cols = []
                out.append((kind, v))
                continue
            # C_1, ..., C_k applied before M: M C_k ... C_1, folded from C_k outwards
            for _, mono in reversed(pending_cols):
                inv = np.empty_like(mono.src)
                inv[mono.src] = np.arange(dim)
                tables[v] = fold(tables[v], inv, mono.phase, False)
            pending_cols = []
            out.append((kind, v))
        out.extend(("const", c) for c, _ in pending_cols)
        self.factors = out
        return extra

    def _table(self, moment: list[Gate], offsets, width: int, x: int) -> np.ndarray:
        n = self.n
        t = np.full((width, x), self.one, dtype=np.int64)
        covered: set[int] = set()
        for s, g in enumerate(moment):
            k = 1 << len(g.pos)
            loc = local_index(g.pos, n)
            t[s] = (offsets[id(g)] + loc[:, None] * k + loc[None, :]).reshape(-1)
            covered.update(g.pos)
        idle = [p for p in range(n) if p not in covered]
        if idle:
            rl = local_index(idle, n)
            t[width - 1] = np.where(rl[:, None] == rl[None, :], self.one, self.zero).reshape(-1)
        return t

    def forward(self, psi, flat_u, tape: list, rdtype, cdtype) -> torch.Tensor:
        """``psi`` after this unitary (no autograd), keeping on ``tape`` what
        :meth:`backward` needs. Gate entries are built in double precision (then cast): a
        float32 ``cos(theta/2 - pi/2)`` loses the relative precision of small sines."""
        dim = self.dim
        entries = esaved = gathered = None
        fs = self.factors
        if self.index is not None:
            entries, esaved = entry_vector(self.table, self.const_entries, flat_u,
                                           cdtype if self.complex else rdtype)  # fmt: skip
            gathered = take(entries, self.index)  # (S, M, X) or (S, N), kept for the backward
            mats = _moment_matrices(gathered.prod(0), self.positions, self.n_moments, dim)
            fs = [(k, v if k == "const" else mats[v]) for k, v in self.factors]
        if psi.shape[0] >= thresholds.PRODUCT_MIN_RATIO * dim and len(fs) > 1:
            prefix = [fs[0][1]]
            for _, f in fs[1:]:
                prefix.append(_mm_t(prefix[-1].transpose(0, 1), f).transpose(0, 1))
            tape.append(("W", self, (entries, esaved, gathered), fs, prefix, psi))
            return _mm_t(psi, prefix[-1])
        ins = []
        for _, f in fs:
            ins.append(psi)
            psi = _mm_t(psi, f)
        tape.append(("seq", self, (entries, esaved, gathered), fs, ins))
        return psi

    def backward(self, item, g, gu):
        """The state's gradient before this unitary; the entries' gradient into ``gu``."""
        (entries, esaved, gathered), fs = item[2], item[3]
        need = gu is not None and self.index is not None
        grads: dict[int, torch.Tensor] = {}
        if item[0] == "W":
            prefix, psi_in = item[4], item[5]
            w = prefix[-1]
            gw = outer_sum(g, psi_in) if need else None
            if psi_in.is_complex():
                g = _mm_t(g, w.conj().transpose(0, 1))
            else:
                g = grad_to_real_state(g, w)
            if need:
                for k in reversed(range(len(fs))):
                    kind, f = fs[k]
                    if kind == "moment":
                        grads[self.factors[k][1]] = (
                            _mm_t(gw, prefix[k - 1].conj()) if k > 0 else gw
                        )
                    if k > 0:
                        gw = _mm_t(f.conj().transpose(0, 1), gw.transpose(0, 1))
        else:
            ins = item[4]
            for k in reversed(range(len(fs))):
                kind, f = fs[k]
                psi_in = ins[k]
                if need and kind == "moment":
                    grads[self.factors[k][1]] = outer_sum(g, psi_in)
                if psi_in.is_complex():
                    g = _mm_t(g, f.conj().transpose(0, 1))
                else:
                    g = grad_to_real_state(g, f)
        if need and self.table is not None:
            gm = torch.stack([grads[m] for m in range(len(grads))]).reshape(len(grads), -1)
            if gm.is_complex() and not entries.is_complex():  # real entries: the real part
                gm = gm.real
            gm = gm.to(entries.dtype)
            if self.positions is not None:
                gm = gm.reshape(-1).index_select(0, self.positions)
            ge = gather_prod_backward(entries, self.index, gm, self.chunked, gathered)
            gt = self.table.backward(esaved, ge[: self.table.size])
            gu.index_add_(0, self.table.used, gt.to(gu.dtype))
        return g

    @property
    def constant(self) -> bool:
        return all(k == "const" for k, _ in self.factors)

    def matrices(self, bound: Bound) -> list[torch.Tensor]:
        """The factors of this call, in application order (each 2**n x 2**n)."""
        if self.index is None:
            return [v for _, v in self.factors]
        dtype = bound.cdtype if self.complex else bound.rdtype
        parts = []
        if self.table is not None:
            parts.append(self.table.build(bound.flat_u).to(dtype))
        for g in self.singles:
            parts.append(bound.matrix(g).to(dtype).reshape(-1))
        parts.append(self.const_entries)
        entries = torch.cat(parts) if len(parts) > 1 else parts[0]
        mats = _moment_matrices(GatherProd.apply(entries, self.index), self.positions,
                                self.n_moments, self.dim)  # fmt: skip
        return [v if k == "const" else mats[v] for k, v in self.factors]


def _const_tensor(m: np.ndarray, plan) -> torch.Tensor:
    if np.iscomplexobj(m) and np.any(np.imag(m)):
        return torch.as_tensor(m, device=plan.device).to(complex_of(plan.rdtype))
    return torch.as_tensor(np.real(m), device=plan.device).to(plan.rdtype)


class _Phases:
    """``D_k``: the phases ``exp(i Theta @ H)`` of a segment's batched rotations; ``Theta``
    holds flat_b columns, products of two columns (IQP) and flat_u entries."""

    def __init__(self, terms: list[tuple], n: int, plan, order: list[int] | None = None):
        """``terms``: (source kind, index, gate positions, h on the gate's wires); ``order``:
        the wire at each amplitude-bit position of the state (default: canonical)."""
        dev, rd = plan.device, plan.rdtype
        pos_of = {w: i for i, w in enumerate(order)} if order is not None else None
        full = []
        for kind, v, gpos, h in terms:
            at = [pos_of[p] for p in gpos] if pos_of is not None else list(gpos)
            full.append((kind, v, h[local_index(at, n)]))
        terms = full

        def part(kind):
            idx = [v for k, v, _ in terms if k == kind]
            h = [h for k, _, h in terms if k == kind]
            if not idx:
                return None, None
            return (torch.stack(idx).to(dev),
                    torch.as_tensor(np.stack(h), device=dev).to(rd))  # fmt: skip

        self.cols, self.hb = part("b")
        self.pairs, self.hbb = part("bb")  # (T, 2) column pairs
        self.uix, self.hu = part("u")

    def theta_pairs(self, flat_b):
        return flat_b[:, self.pairs[:, 0]] * flat_b[:, self.pairs[:, 1]]

    def angle(self, flat_u, flat_b) -> torch.Tensor:
        angle = None
        if self.cols is not None:
            angle = flat_b[:, self.cols] @ self.hb.to(flat_b.dtype)
        if self.pairs is not None:
            ap = self.theta_pairs(flat_b) @ self.hbb.to(flat_b.dtype)
            angle = ap if angle is None else angle + ap
        if self.uix is not None:
            au = (flat_u[self.uix] @ self.hu.to(flat_u.dtype))[None]
            angle = au if angle is None else angle + au
        return angle

    def backward(self, gang, flat_b, gu, gb) -> None:
        """Accumulate the gradients of the angles ``gang`` (B, 2**n) into gu / gb."""
        if gb is not None and self.cols is not None:
            gb.index_add_(1, self.cols, gang @ self.hb.transpose(0, 1))
        if gb is not None and self.pairs is not None:
            gt = gang @ self.hbb.transpose(0, 1)  # (B, T)
            gb.index_add_(1, self.pairs[:, 0], gt * flat_b[:, self.pairs[:, 1]])
            gb.index_add_(1, self.pairs[:, 1], gt * flat_b[:, self.pairs[:, 0]])
        if gu is not None and self.uix is not None:
            gsum = gang.sum(0, dtype=torch.float64).to(gang.dtype)
            gu.index_add_(0, self.uix, self.hu @ gsum)

    def apply(self, psi: torch.Tensor, bound: Bound) -> torch.Tensor:
        angle = self.angle(bound.flat_u, bound.flat_b)
        ph = torch.polar(torch.ones_like(angle), angle)
        psi, ph = _match(psi, ph)
        return psi * ph


class DenseProgram:
    """A circuit of at most ``DENSE_MAX_WIRES`` qubits as product state + segments (module
    doc). :meth:`compile` returns None for circuits it cannot express."""

    def __init__(self, n: int):
        self.n = n
        self.prep_cols = None  # flat_b columns of the first RY/RX per wire
        self.prep_wire_list: list[int] = []
        self.wire_gates = None  # wire_gates.WireGates folded into the product state
        self.segments: list[tuple] = []  # (_Unitary, _Phases | None)

    @classmethod
    def compile(cls, plan, gates: list[Gate], rotation) -> DenseProgram | None:
        n = plan.n
        if n > thresholds.PROGRAM_MAX_WIRES or plan.has_dynamic:
            return None
        gates = list(gates) + list(rotation or [])
        for g in gates:
            if g.state_prep or not g.static:
                return None
        prog = cls(n)
        rest = prog._product_state(gates, plan)
        if (n > thresholds.DENSE_MAX_WIRES and n >= thresholds.WIRE_GATES_MIN_WIRES
                and prog.prep_cols is not None):  # fmt: skip
            from .wire_gates import WireGates, leading_chains  # noqa: PLC0415

            chains, remaining = leading_chains(rest, prog.prep_wire_list)
            if any(g.const is None for c in chains for g in c):  # weight gates to fold
                prog.wire_gates = WireGates(chains, plan)
                rest = remaining
        # segments
        seg_gates: list[Gate] = []
        seg_terms: list[tuple] = []
        post: list[Gate] = []
        phase_wires: set[int] = set()
        post_wires: set[int] = set()
        built: list[tuple] = []

        def close():
            nonlocal seg_gates, seg_terms, post, phase_wires, post_wires
            built.append((seg_gates, seg_terms))
            seg_gates, seg_terms = list(post), []
            post, phase_wires, post_wires = [], set(), set()

        for g in rest:
            pos = set(g.pos)
            if not g.batched:
                if pos & (phase_wires | post_wires):
                    post.append(g)
                    post_wires |= pos
                else:
                    seg_gates.append(g)
                continue
            terms = _terms(g)
            if terms is None or not all(
                (k in ("b", "u") and v.dim() == 0) or k == "bb" for k, v in g.srcs
            ):
                return None
            for frame, h, j in terms:
                kind, v = g.srcs[j]
                blocked = pos & post_wires or (frame is not None and pos & phase_wires)
                if blocked:
                    close()
                if frame is not None:
                    fg = Gate("frame", g.pos, False)
                    fg.const = _const_tensor(frame.conj().T, plan)
                    seg_gates.append(fg)
                    back = Gate("frame", g.pos, False)
                    back.const = _const_tensor(frame, plan)
                    post.append(back)
                    post_wires |= pos
                seg_terms.append((kind, v, g.pos, np.asarray(h, dtype=np.float64)))
                phase_wires |= pos
        built.append((seg_gates, seg_terms))
        if post:
            built.append((post, []))
        if n <= thresholds.DENSE_MAX_WIRES:
            for sg, st in built:
                prog.segments.append((_Unitary(sg, n, plan),
                                      _Phases(st, n, plan) if st else None))  # fmt: skip
            gathered = sum(u.index.numel() for u, _ in prog.segments if u.index is not None)
            if gathered > thresholds.DENSE_MAX_GATHER:
                return None
            return prog
        from .blocks import BlockUnitary, NotExpressible  # noqa: PLC0415 - blocks imports dense

        order = list(range(n))  # wire at each amplitude-bit position
        try:
            for sg, st in built:
                unitary = BlockUnitary(sg, n, plan, order)
                order = unitary.order_out
                prog.segments.append((unitary, _Phases(st, n, plan, order) if st else None))
            if order != list(range(n)):
                prog.segments.append((BlockUnitary([], n, plan, order, canonical=True), None))
        except NotExpressible:
            return None
        return prog

    def _product_state(self, gates: list[Gate], plan) -> list[Gate]:
        """Take the first batched RX/RY of each wire, after nothing but constant single-qubit
        gates ``V`` on it (``H`` of ``hadamard_angle``), into the product state. Since
        ``RY(t) V|0> = M RY(t)|0>`` with ``M = [v, J v]`` (``v = V|0>``, ``J`` the quarter
        turn) and ``RX(t) = S^dagger RY(t) S``, the constant ``M`` (``S^dagger`` for a lone RX)
        becomes the wire's first remaining gate and the product state stays real."""
        first: dict[int, Gate] = {}
        lead: dict[int, list[Gate]] = {}
        closed: set[int] = set()
        for g in gates:
            p = g.pos[0] if len(g.pos) == 1 else None
            if p is not None and p not in closed:
                if not g.batched and g.const is not None:
                    lead.setdefault(p, []).append(g)
                    continue
                if (g.batched and g.name in ("RX", "RY") and g.srcs[0][0] == "b"
                        and g.srcs[0][1].dim() == 0):  # fmt: skip
                    first[p] = g
            closed.update(g.pos)
        if not first:
            return gates
        wires = sorted(first)
        self.prep_cols = torch.stack([first[w].srcs[0][1] for w in wires]).to(plan.device)
        self.prep_wire_list = list(wires)
        absorbed = {id(g) for g in first.values()}
        rest: list[Gate] = []
        for w in wires:
            v = np.array([1.0, 0.0], dtype=complex)
            for g in lead.get(w, []):
                v = g.const.detach().cpu().numpy().astype(complex) @ v
                absorbed.add(id(g))
            s = np.diag([1, 1j]) if first[w].name == "RX" else np.eye(2)
            sv = s @ v
            m = s.conj().T @ np.stack([sv, _J @ sv], 1)
            if not np.allclose(m, np.eye(2), atol=1e-15):
                g = Gate("prep", (w,), False)
                g.const = _const_tensor(m, plan)
                rest.append(g)
        rest.extend(g for g in gates if id(g) not in absorbed)
        return rest

    # --------------------------------------------------------------------------- run
    @property
    def has_phases(self) -> bool:
        """Batched gates after the product state (IQP, QAOA, re-uploading): the general schedule
        would apply them gate by gate to the whole batch (``thresholds.DENSE_MAX_BATCH_RATIO``)."""
        return any(ph is not None for _, ph in self.segments)

    @property
    def fusable(self) -> bool:
        """Every parameter enters through the entry table, phases or the product state (the
        block mode of wider registers always is)."""
        return all(not u.singles for u, _ in self.segments)

    def final_state(self, bound: Bound) -> torch.Tensor:
        """The state (B, 2**n) after the whole circuit (real while every step is real)."""
        if self.fusable:
            return FusedProgram.apply(self, bound.flat_u, bound.flat_b)
        return self.final_state_autograd(bound)

    def forward_tape(self, flat_u, flat_b, tape: list, differentiable: bool = False
                     ) -> torch.Tensor:  # fmt: skip
        """The final state, keeping on ``tape`` what :meth:`backward_tape` needs.
        ``differentiable``: every step in torch operations autograd can follow (for a
        backward under ``create_graph``), the wire gates' matrices included."""
        dim = 1 << self.n
        ref = flat_b if flat_b is not None else flat_u
        rdtype, device = ref.dtype, ref.device
        cdtype = torch.complex128 if rdtype == torch.float64 else torch.complex64
        if self.prep_cols is not None:
            half = flat_b[:, self.prep_cols] / 2
            cs = torch.stack([half.cos(), half.sin()], 2)  # (B, wires, 2)
            v, fu, u = cs, None, None
            if self.wire_gates is not None and differentiable:
                v = self.wire_gates.vectors(self.wire_gates.matrices(flat_u), cs)
            elif self.wire_gates is not None:  # U_w (cos, sin): U's small graph kept
                with torch.enable_grad():
                    fu = flat_u.detach().requires_grad_(True)
                    u = self.wire_gates.matrices(fu)
                v = self.wire_gates.vectors(u.detach(), cs)
            suffix = self._suffix_states(v)
            psi = suffix[0]
            tape.append(("prep", cs, v, suffix, fu, u))
        else:
            psi = torch.zeros(1, dim, dtype=rdtype, device=device)
            psi[0, 0] = 1
        for unitary, phases in self.segments:
            psi = unitary.forward(psi, flat_u, tape, rdtype, cdtype)
            if phases is not None:
                ph = torch.polar(torch.ones((), dtype=rdtype, device=device).expand(1),
                                 phases.angle(flat_u, flat_b))  # fmt: skip
                was_real = not psi.is_complex()
                psi = psi.to(ph.dtype) * ph
                tape.append(("phase", phases, ph, psi, was_real))
        return psi.contiguous()  # block segments hand on transposed views

    def backward_tape(self, tape, g, flat_u, flat_b, need_u: bool, need_b: bool):
        """Gradients of ``flat_u`` and ``flat_b`` from the final state's gradient ``g``."""
        gu = torch.zeros_like(flat_u) if need_u else None
        gb = torch.zeros_like(flat_b) if need_b else None
        for item in reversed(tape):
            kind = item[0]
            if kind == "phase":
                _, phases, ph, psi_out, was_real = item
                phases.backward((g * psi_out.conj()).imag, flat_b, gu, gb)
                g = g * ph.conj()
                if was_real:
                    g = g.real
            elif kind == "prep":
                _, cs, v, suffix, fu, u = item
                if gb is None and (gu is None or u is None):
                    continue
                gcs = self._vector_grads(g, v, suffix)  # (B, wires, 2)
                if u is not None:
                    gmat, gcs = self.wire_gates.grads(u.detach(), cs, gcs)
                    if gu is not None:
                        gu += torch.autograd.grad(u, fu, gmat, retain_graph=True)[0]
                if gb is not None:
                    gangle = (gcs[..., 1] * cs[..., 0] - gcs[..., 0] * cs[..., 1]) / 2
                    gb.index_add_(1, self.prep_cols, gangle)
            else:
                g = item[1].backward(item, g, gu)
        return gu, gb

    def _suffix_states(self, cs: torch.Tensor) -> list[torch.Tensor]:
        """Product states of wires k..n-1 for k = n..0 (index k), from each wire's (cos, sin)
        (wires without an angle are |0>): ``suffix[0]`` is the product state."""
        b = cs.shape[0]
        suffix = [torch.ones(b, 1, dtype=cs.dtype, device=cs.device)]
        j = len(self.prep_wire_list) - 1
        for p in reversed(range(self.n)):
            last = suffix[-1]
            if j >= 0 and self.prep_wire_list[j] == p:
                v = cs[:, j]
                j -= 1
                suffix.append((v[:, :, None] * last[:, None, :]).reshape(b, -1))
            else:  # |0>: the upper half
                suffix.append(torch.cat([last, torch.zeros_like(last)], 1))
        return suffix[::-1]

    def _vector_grads(self, g, v, suffix) -> torch.Tensor:
        """Gradient of the wires' vectors ``v`` (B, wires, 2) from the product state's: contract
        the gradient with the (conjugated) wires before each wire, carried along, and the
        product state of the wires after it, kept from the forward."""
        if v.is_complex():
            a = g.to(v.dtype).contiguous()
        else:
            a = (g.real if g.is_complex() else g).contiguous()  # strided: bmm per circuit
        b = a.shape[0]
        if a.shape[0] != v.shape[0]:
            a = a.expand(v.shape[0], -1)
            b = a.shape[0]
        out = []
        j = 0
        for p in range(self.n):
            a3 = a.reshape(b, 2, -1)
            if j < len(self.prep_wire_list) and self.prep_wire_list[j] == p:
                out.append(torch.bmm(a3, conj(suffix[p + 1]).unsqueeze(2)))  # (B, 2, 1)
                a = torch.bmm(conj(v[:, j]).unsqueeze(1), a3)  # (B, 1, rest)
                j += 1
            else:
                a = a3[:, 0]
        return torch.cat(out, 2).transpose(1, 2)  # (B, wires, 2)

    def final_state_autograd(self, bound: Bound) -> torch.Tensor:
        """:meth:`final_state` recorded by autograd (gates built one by one are in it)."""
        n, dim = self.n, 1 << self.n
        if self.prep_cols is not None:
            half = bound.flat_b[:, self.prep_cols] / 2
            v = torch.stack([half.cos(), half.sin()], 2)
            if self.wire_gates is not None:
                v = self.wire_gates.vectors(self.wire_gates.matrices(bound.flat_u), v)
            psi = self._suffix_states(v)[0]
        else:
            psi = None
        for unitary, phases in self.segments:
            mats = unitary.matrices(bound)
            batch = 1 if psi is None else psi.shape[0]
            if psi is None:  # |0...0>: the first column of the first factor
                if not mats:
                    psi = torch.zeros(1, dim, dtype=bound.rdtype, device=bound.device)
                    psi[0, 0] = 1
                else:
                    psi = mats[0][:, 0][None]
                    mats = mats[1:]
            if batch >= dim and len(mats) > 1:
                w = mats[0]
                for m in mats[1:]:
                    w, m = _match(w, m)
                    w = m @ w
                mats = [w]
            for m in mats:
                psi = apply_contiguous(psi, m, 0, n, n)
            if phases is not None:
                psi = phases.apply(psi, bound)
        return psi

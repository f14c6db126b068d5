"""The small-register program as one ``torch.compile``d function (``TorchLayer(compile=True)``).

At small batches a call of the engine is a few hundred tiny torch operations (about 170 for
5 qubits at batch 1), each costing microseconds of dispatch, whatever its size; no rewrite in
eager torch gets far below that (``experiments/bench_batch1_floor.py``: a hand-written eager
version of the batch-1 row costs more than the engine). A compiled kernel does: this module
writes the :class:`.dense.DenseProgram` of a plan as a pure function of the flat parameters,
in real arithmetic (inductor generates no code for complex operations: a complex state is
stored as ``[re | im]`` and a complex matrix acts as a real block matrix, one GEMM per
product), and hands it to ``torch.compile``, whose generated forward and backward replace the
fused program's hand-written adjoint.

Same steps as the fused program: the product state of the encoded wires, then per segment its
weight-only unitary (entries built in double precision from the entry table, gathered,
multiplied per moment; the moments multiplied into one matrix for batches of at least
``PRODUCT_MIN_RATIO x 2**n``, else applied one by one) and its data phases; the Pauli-word
expectations of one frame as ``|psi|^2 @ signs``.

Registers of 7 to ``PROGRAM_MAX_WIRES`` qubits run the block program's steps (:mod:`.blocks`)
the same way, on the batch-minor state with the real parts' columns before the imaginary ones.

Measured (``experiments/RESULTS.md``): 1.3-1.8x the fused program's speed on the benchmark's
circuits of up to 6 qubits at batches 1 to 256 (six A/B runs); 1.08-1.68x on 8-qubit SEL.
Sparse moments (RandomLayers) and long block programs (the QCNN) ran slower compiled and stay
on the fused program (``thresholds.COMPILED_MAX_BLOCK_STEPS``).

Costs and limits: the first call compiles for 10-40 s (5-8 qubits, this 2-core machine), and
a second batch size once more (``torch.compile`` then makes the batch size dynamic); it needs
what inductor needs (a C++ compiler on CPU). A program it cannot express (measurements other
than Pauli-word expectations in one frame, gates built outside the entry table, sparse
moments, long block programs, wire gates folded into the product state from
``WIRE_GATES_MIN_WIRES`` qubits) or a compiler that fails leaves the layer on the engine's
usual path, said once in the log.
"""

from __future__ import annotations

import itertools
import logging
import types

import torch

from . import thresholds
from .blocks import BlockUnitary
from .dense import _moment_matrices, _Unitary
from .errors import UnsupportedCircuit

logger = logging.getLogger("qclf.quantum")

Pair = tuple[torch.Tensor, torch.Tensor | None]  # (real, imaginary or None for real)


def _split(t: torch.Tensor) -> Pair:
    if t.is_complex():
        return t.real.contiguous(), t.imag.contiguous()
    return t, None


def _cmul(a: Pair, b: Pair) -> Pair:
    ar, ai = a
    br, bi = b
    if ai is None and bi is None:
        return ar * br, None
    if ai is None:
        return ar * br, ar * bi
    if bi is None:
        return ar * br, ai * br
    return ar * br - ai * bi, ar * bi + ai * br


def _block(f: Pair) -> tuple[torch.Tensor, bool]:
    """``(M^T, complex)``: a (K', K) matrix as the right operand of ``state @ M^T``; a complex
    ``A + iB`` as the real (2K, 2K') block ``[[A^T, B^T], [-B^T, A^T]]`` acting on states
    stored as ``[re | im]`` (B, 2K), so that a complex product is one real GEMM."""
    fr, fi = f
    if fi is None:
        return fr.transpose(0, 1), False
    top = torch.cat([fr.transpose(0, 1), fi.transpose(0, 1)], 1)
    bottom = torch.cat([-fi.transpose(0, 1), fr.transpose(0, 1)], 1)
    return torch.cat([top, bottom], 0), True


def _pair_mm(a: Pair, b: Pair) -> Pair:
    """``a @ b`` for (real, imaginary) pairs."""
    ar, ai = a
    br, bi = b
    re = ar @ br
    if ai is None and bi is None:
        return re, None
    if ai is None:
        return re, ar @ bi
    if bi is None:
        return re, ai @ br
    return re - ai @ bi, ar @ bi + ai @ br


def _apply(psi: torch.Tensor, psi_complex: bool, m: torch.Tensor, m_complex: bool):
    """``psi @ M^T`` with ``psi`` real (B, K) or ``[re | im]`` (B, 2K), ``m`` from
    :func:`_block`; returns the state and whether it is complex."""
    if psi_complex == m_complex:
        return psi @ m, psi_complex
    if m_complex:  # real state, complex matrix: [psi A^T | psi B^T]
        k = psi.shape[1]
        return psi @ m[:k], True
    b = psi.shape[0]  # complex state, real matrix: both halves at once
    return (psi.reshape(2 * b, -1) @ m).reshape(b, -1), True


def _entries(table, consts: Pair, flat_u: torch.Tensor | None, rdtype) -> Pair:
    """A unitary's entry vector as a pair: the table's entries (built in double precision,
    then cast to ``rdtype``) followed by the constant entries ``consts``."""
    cr, ci = consts
    if table is None:
        return cr, ci
    er, ei = table.build_parts(flat_u)
    er = er.to(rdtype)
    re = torch.cat([er, cr])
    if ei is None and ci is None:
        return re, None
    ei = torch.zeros_like(er) if ei is None else ei.to(rdtype)
    ci = torch.zeros_like(cr) if ci is None else ci
    return re, torch.cat([ei, ci])


def _gather_prod(entries: Pair, index: torch.Tensor) -> Pair:
    """``prod_s entries[index[s]]`` as a pair, flattened over the index's other axes."""
    er, ei = entries
    idx = index.reshape(index.shape[0], -1)
    prod: Pair = (er[idx[0]], None if ei is None else ei[idx[0]])
    for s in range(1, idx.shape[0]):
        prod = _cmul(prod, (er[idx[s]], None if ei is None else ei[idx[s]]))
    return prod


class _CompiledUnitary:
    """One segment's unitary (:class:`.dense._Unitary`) on ``[re | im]`` states."""

    def __init__(self, unitary, rdtype):
        if unitary.singles:
            raise UnsupportedCircuit("gates without a closed-form table entry")
        self.u = unitary
        self.rdtype = rdtype
        self.consts = _split(unitary.const_entries)
        self.factors = [(k, _split(v) if k == "const" else v)
                        for k, v in unitary.factors]  # fmt: skip

    def matrices(self, flat_u) -> list[Pair]:
        """The factors in application order, (2**n, 2**n) pairs."""
        u = self.u
        if u.index is None:
            return [v for _, v in self.factors]
        prod = _gather_prod(_entries(u.table, self.consts, flat_u, self.rdtype), u.index)
        mr, mi = (None if p is None else _moment_matrices(p, u.positions, u.n_moments, u.dim)
                  for p in prod)  # fmt: skip
        return [v if k == "const" else (mr[v], None if mi is None else mi[v])
                for k, v in self.factors]  # fmt: skip

    def apply(self, psi: torch.Tensor, psi_complex: bool, flat_u):
        mats = self.matrices(flat_u)
        if psi.shape[0] >= thresholds.PRODUCT_MIN_RATIO * self.u.dim and len(mats) > 1:
            w = mats[0]  # the whole segment as one matrix W <- M W, complex products in
            for m in mats[1:]:  # pairs (half the arithmetic of block products)
                w = _pair_mm(m, w)
            mats = [w]
        for m in mats:
            psi, psi_complex = _apply(psi, psi_complex, *_block(m))
        return psi, psi_complex


def _local(x: torch.Tensor, a: torch.Tensor, lo: int, k: int) -> torch.Tensor:
    """Real ``a`` (2**k, 2**k) on amplitude positions lo .. lo + k - 1 of the batch-minor
    ``x`` (2**n, columns)."""
    kk = 1 << k
    if lo == 0:
        return (a @ x.reshape(kk, -1)).reshape(x.shape)
    return torch.matmul(a, x.reshape(1 << lo, kk, -1)).reshape(x.shape)


def _times(x: torch.Tensor, x_complex: bool, re: torch.Tensor, im: torch.Tensor | None):
    """``x * (re + i im)`` (``im`` None: real) for a state whose imaginary parts, when
    complex, are the second half of its columns (``[re | im]`` batch-major, or the real
    parts' columns before the imaginary parts' batch-minor); returns it and whether it is
    complex."""
    if im is None:
        return x * re, x_complex
    if not x_complex:
        return torch.cat([x * re, x * im], 1), True
    xr, xi = x.chunk(2, 1)
    return torch.cat([xr * re - xi * im, xr * im + xi * re], 1), True


def _column(d: Pair) -> Pair:
    """Per-amplitude factors (2**n,) as columns (2**n, 1) of a batch-minor state."""
    return d[0][:, None], None if d[1] is None else d[1][:, None]


class _CompiledBlocks:
    """One segment of the block program (:class:`.blocks.BlockUnitary`, 7 to
    ``PROGRAM_MAX_WIRES`` qubits) on the batch-minor state: (2**n, B) real, or (2**n, 2B) with
    the real parts' columns before the imaginary parts' (a real block is then one GEMM)."""

    def __init__(self, unitary, rdtype):
        self.u = unitary
        self.rdtype = rdtype
        self.consts = _split(unitary.const_entries)
        self.perms = {i: (src, None if ph is None else _split(ph))
                      for i, (src, _, ph) in unitary.perm_tensors.items()}  # fmt: skip

    def apply(self, x: torch.Tensor, x_complex: bool, flat_u):
        u = self.u
        entries = None
        if u.table is not None or u.index:
            entries = _entries(u.table, self.consts, flat_u, self.rdtype)
        mats = {}
        for k, ix in u.index.items():
            mr, mi = _gather_prod(entries, ix)
            kk = 1 << k
            mats[k] = (mr.reshape(-1, kk, kk), None if mi is None else mi.reshape(-1, kk, kk))
        size = 1 << u.n
        for i, step in enumerate(u.steps):
            if step[0] == "perm":
                src, ph = self.perms[i]
                x = x.index_select(0, src)
                if ph is not None:
                    x, x_complex = _times(x, x_complex, *_column(ph))
            elif step[0] == "diag":
                off = u.diag_offsets[step[1]]
                d = (entries[0][off:off + size],
                     None if entries[1] is None else entries[1][off:off + size])  # fmt: skip
                x, x_complex = _times(x, x_complex, *_column(d))
            else:
                for lo, k, m in step[1]:
                    ar, ai = mats[k][0][m], None if mats[k][1] is None else mats[k][1][m]
                    yr = _local(x, ar, lo, k)
                    if ai is None:
                        x = yr
                        continue
                    yi = _local(x, ai, lo, k)
                    if not x_complex:
                        x, x_complex = torch.cat([yr, yi], 1), True
                        continue
                    rr, ri = yr.chunk(2, 1)  # (A re | A im)
                    ir, ii = yi.chunk(2, 1)  # (B re | B im)
                    x = torch.cat([rr - ii, ri + ir], 1)
        return x, x_complex


_PROGRAM_IDS = itertools.count()


def _own_code(fn):
    """``fn`` with a code object of its own. ``torch.compile`` keeps compiled graphs, and its
    limit of recompiles (8), per code object: with one shared ``values`` every program of the
    process would count against that limit, and the ninth would fail. Its own code object
    also frees the program's graphs with the program (no process-wide cache)."""
    name = f"{fn.__name__}_{next(_PROGRAM_IDS)}"  # equal code objects would share a cache
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)


class CompiledProgram:
    """A plan's :class:`.dense.DenseProgram` and one-frame Pauli-word expectations as a pure
    function ``values(flat_u, flat_b) -> (b, T)``, run through ``torch.compile``."""

    def __init__(self, dense, mplan, plan):
        if dense is None:
            raise UnsupportedCircuit("the circuit has no small-register program")
        kinds = {type(u) for u, _ in dense.segments}
        if dense.wire_gates is not None or len(kinds) != 1 or not kinds <= {_Unitary,
                                                                              BlockUnitary}:
            raise UnsupportedCircuit(f"{dense.n} qubits with wire gates folded into the "
                                     "product state")  # fmt: skip
        self.blocks = kinds == {BlockUnitary}
        steps = sum(len(u.steps) for u, _ in dense.segments) if self.blocks else 0
        if steps > thresholds.COMPILED_MAX_BLOCK_STEPS:
            raise UnsupportedCircuit(f"{steps} block steps run faster on the fused program")
        if any(getattr(u, "positions", None) is not None for u, _ in dense.segments):
            # RandomLayers (6 qubits, 3 x 12) at 256: 2.60 ms on the fused program, 3.85 ms
            # compiled (one process, interleaved, median of 5, 2026-12-02)
            raise UnsupportedCircuit("sparse moments run faster on the fused program")
        if mplan.stack_terms is None or len(mplan.frames) != 1:
            raise UnsupportedCircuit("measurements other than Pauli-word expectations in one "
                                     "basis")  # fmt: skip
        frame = mplan.frames[mplan.items[0].sentence.terms[0][0]]
        if not mplan.rotation and any(b != "Z" for b in frame.bases.values()):
            raise UnsupportedCircuit("a measurement basis not rotated into the circuit")
        self.n, self.rdtype = dense.n, plan.rdtype
        self.dense = dense
        kind = _CompiledBlocks if self.blocks else _CompiledUnitary
        self.segments = [(kind(u, plan.rdtype), ph) for u, ph in dense.segments]
        self.signs = torch.as_tensor(frame.signs(self.n), device=plan.device).to(plan.rdtype)
        self.e0 = torch.zeros(1, 1 << self.n, dtype=plan.rdtype, device=plan.device)
        self.e0[0, 0] = 1
        self.fn = torch.compile(_own_code(CompiledProgram.values), fullgraph=True)
        self.failed = False

    def product_state(self, flat_b: torch.Tensor) -> torch.Tensor:
        """The real product state (B, 2**n) of the encoded wires (others |0>), as the fused
        program builds it (the suffix states it also returns are unused: traced away)."""
        half = flat_b[:, self.dense.prep_cols] / 2
        return self.dense._suffix_states(torch.stack([half.cos(), half.sin()], 2))[0]

    def values(self, flat_u, flat_b) -> torch.Tensor:
        if self.blocks:
            return self.values_batch_minor(flat_u, flat_b)
        psi, psi_complex = self.e0, False
        if self.dense.prep_cols is not None:
            psi = self.product_state(flat_b)
        for unitary, phases in self.segments:
            psi, psi_complex = unitary.apply(psi, psi_complex, flat_u)
            if phases is not None:
                ang = phases.angle(flat_u, flat_b)
                psi, psi_complex = _times(psi, psi_complex, ang.cos(), ang.sin())
        signs = torch.cat([self.signs, self.signs], 0) if psi_complex else self.signs
        return (psi * psi) @ signs

    def values_batch_minor(self, flat_u, flat_b) -> torch.Tensor:
        """:meth:`values` of the block program, on the batch-minor state."""
        x, x_complex = self.e0.transpose(0, 1), False
        if self.dense.prep_cols is not None:
            x = self.product_state(flat_b).transpose(0, 1)
        for unitary, phases in self.segments:
            x, x_complex = unitary.apply(x, x_complex, flat_u)
            if phases is not None:
                ang = phases.angle(flat_u, flat_b).transpose(0, 1)  # (2**n, B)
                x, x_complex = _times(x, x_complex, ang.cos(), ang.sin())
        if x_complex:
            re, im = x.chunk(2, 1)
            probs = re * re + im * im
        else:
            probs = x * x
        return (self.signs.transpose(0, 1) @ probs).transpose(0, 1)

    def run(self, bound) -> torch.Tensor | None:
        """This call's (b, T) values of the frame's Pauli words; None when ``torch.compile``
        failed (logged once with its traceback; the caller then runs the engine's usual path,
        as every later call)."""
        if self.failed:
            return None
        try:
            out = self.fn(self, bound.flat_u, bound.flat_b)
        except Exception as exc:  # noqa: BLE001 - no compiler, an unsupported platform, ...
            self.failed = True
            logger.warning("qclf: compile=True: torch.compile failed (%s: %s); this layer "
                           "runs without it", type(exc).__name__, str(exc)[:300],
                           exc_info=exc)  # fmt: skip
            return None
        if out.requires_grad:
            out.register_hook(_first_derivatives_only)
        return out


def _first_derivatives_only(grad: torch.Tensor) -> torch.Tensor:
    """The compiled backward gives first derivatives only: name that under ``create_graph``
    instead of letting autograd go on with gradients cut off from the graph."""
    if torch.is_grad_enabled():
        raise RuntimeError("qclf.TorchLayer(compile=True) computes first derivatives only; "
                           "for second derivatives (create_graph=True: gradient penalties, "
                           "Hessians) use compile=False, whose backward is differentiable")
    return grad

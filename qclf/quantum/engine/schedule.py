"""The schedule: a circuit's gates after the product state as a list of state-kernel steps.

Compiled once per plan. Single-qubit gates collect into layers applied as Kronecker products over
contiguous wire blocks (one GEMM per block; batched gates one wire at a time); runs of constant
permutation/phase gates compose into one gather; diagonal gates multiply; runs of weight-only
gates around parameterised multi-qubit gates within ``BLOCK_MAX_WIRES`` wires become one small
block matrix; other gates are one GEMM on contiguous wires or a permuted GEMM (:mod:`.kernels`).
For batches of at least ``RUN_FUSE_MIN_RATIO x 2**n`` circuits, runs of weight-only steps become
one 2**n x 2**n unitary (:func:`fuse_runs`).

Steps: ``("layer", [(start, k, [gates per wire])])``, ``("mono", Monomial)``,
``("diag", gate, local index)``, ``("contig", gate, start, k, basis permutation or None)``,
``("dense", gate)``, ``("block", start, k, inner steps, constant, ids)``, ``("unitary", steps)``.
"""

from __future__ import annotations

import numpy as np

from . import thresholds
from .kernels import Monomial, local_index
from .plan import Gate

#: closed-form gates whose matrix is diagonal (DiagonalQubitUnitary: its parameter is the diagonal)
DIAGONAL = frozenset({"RZ", "PhaseShift", "CRZ", "ControlledPhaseShift", "MultiRZ", "IsingZZ",
                      "DiagonalQubitUnitary"})  # fmt: skip


def _blocks(n: int) -> list[range]:
    """A fixed partition of the wires into contiguous blocks of at most GROUP_MAX_WIRES."""
    g = max(1, thresholds.GROUP_MAX_WIRES)
    if n <= thresholds.FULL_LAYER_MAX_WIRES:
        g = max(g, n)
    nb = -(-n // g)
    sizes = [n // nb + (1 if i < n % nb else 0) for i in range(nb)]
    out, start = [], 0
    for s in sizes:
        out.append(range(start, start + s))
        start += s
    return out


def _const_np(g: Gate) -> np.ndarray:
    return g.const.detach().cpu().numpy()


def _gate_step(g: Gate, n: int) -> tuple:
    """The kernel step of one multi-qubit gate."""
    k = len(g.pos)
    sorted_pos = tuple(sorted(g.pos))
    if g.const is not None:
        m = _const_np(g)
        mono = Monomial.of_matrix(m, g.pos, n)
        if mono is not None:
            return ("mono", mono)
        if np.allclose(m, np.diag(np.diag(m))):
            return ("diag", g, local_index(g.pos, n))
    elif g.name in DIAGONAL:
        return ("diag", g, local_index(g.pos, n))
    if sorted_pos == tuple(range(sorted_pos[0], sorted_pos[0] + k)):
        perm = None
        if sorted_pos != g.pos:  # local basis in ascending wire order
            perm = local_index([sorted_pos.index(p) for p in g.pos], k)
        return ("contig", g, sorted_pos[0], k, perm)
    return ("dense", g)


def _is_monomial(g: Gate, n: int) -> bool:
    return g.const is not None and Monomial.of_matrix(_const_np(g), g.pos, n) is not None


class _Scheduler:
    """Greedy schedule (module doc, step 2): pending single-qubit layers, composed constant
    permutations, and blocks: runs of unbatched gates around parameterised multi-qubit gates
    within ``BLOCK_MAX_WIRES`` contiguous wires, built as one small matrix."""

    def __init__(self, n: int, use_blocks: bool):
        self.n, self.use_blocks = n, use_blocks
        self.steps: list[tuple] = []
        self.pending: dict[int, list[Gate]] = {}
        self.block: list[Gate] = []
        self.span: tuple[int, int] | None = None
        self.touched: set[int] = set()
        self.wire_blocks = _blocks(n)

    def emit(self, step):
        if step[0] == "mono" and self.steps and self.steps[-1][0] == "mono":
            self.steps[-1] = ("mono", self.steps[-1][1].then(step[1]))
        else:
            self.steps.append(step)

    def flush_pending(self, wires=None):
        wires = set(self.pending) if wires is None else set(wires) & set(self.pending)
        if not wires:
            return
        layer = []
        batched = any(g.batched for w in wires for g in self.pending[w])
        # batched gates: one wire at a time (a batched Kronecker product costs B x 4**k)
        for blk in [range(w, w + 1) for w in range(self.n)] if batched else self.wire_blocks:
            ws = [w for w in blk if w in wires]
            if ws:
                lo, hi = min(ws), max(ws)
                gl = [self.pending.get(w, []) if w in wires else [] for w in range(lo, hi + 1)]
                layer.append((lo, hi - lo + 1, gl))
        for w in wires:
            del self.pending[w]
        self.emit(("layer", layer))

    def flush_block(self):
        if not self.block:
            return
        gates, (lo, hi) = self.block, self.span
        self.block, self.span, self.touched = [], None, set()
        if len(gates) == 1 and len(gates[0].pos) > 1:
            self.emit(_gate_step(gates[0], self.n))
            return
        k = hi - lo + 1
        local = [g.moved(tuple(p - lo for p in g.pos)) for g in gates]
        inner = _Scheduler(k, use_blocks=False)
        for g in local:
            inner.add(g)
        const = all(g.const is not None and g.static for g in gates)
        self.emit(("block", lo, k, inner.finish(), const, tuple(id(g) for g in gates)))

    def _absorb(self, g: Gate) -> bool:
        """Add ``g`` (unbatched) to the open block if the span allows; pending gates on its
        wires come first (they commute with the block's earlier gates)."""
        lo = min(g.pos) if self.span is None else min(self.span[0], *g.pos)
        hi = max(g.pos) if self.span is None else max(self.span[1], *g.pos)
        if hi - lo + 1 > thresholds.BLOCK_MAX_WIRES:
            return False
        if any(g2.batched for w in g.pos for g2 in self.pending.get(w, [])):
            return False
        for w in g.pos:
            self.block.extend(self.pending.pop(w, []))
        self.block.append(g)
        self.span = (lo, hi)
        self.touched.update(g.pos)
        return True

    def add(self, g: Gate):
        if len(g.pos) == 1:
            w = g.pos[0]
            if w in self.touched:
                if not g.batched:
                    self.block.append(g)
                    return
                self.flush_block()
            self.pending.setdefault(w, []).append(g)
            return
        parametrised = g.const is None or not _is_monomial(g, self.n)
        if self.use_blocks and not g.batched and (parametrised or self.block):
            if self._absorb(g):
                return
            self.flush_block()
            if parametrised and self._absorb(g):
                return
        if self.block and self.touched & set(g.pos):
            self.flush_block()
        if any(p in self.pending for p in g.pos):
            self.flush_pending()  # all of them: one layer instead of several partial ones
        self.emit(_gate_step(g, self.n))

    def finish(self) -> list[tuple]:
        self.flush_block()
        self.flush_pending()
        return self.steps


def schedule(rest: list[Gate], n: int, use_blocks: bool = True) -> list[tuple]:
    """Steps of kernels for the gates after the product state (module doc, step 2)."""
    sch = _Scheduler(n, use_blocks)
    for g in rest:
        sch.add(g)
    return sch.finish()



def _unbatched(step) -> bool:
    kind = step[0]
    if kind == "layer":
        return not any(g.batched for _, _, wgs in step[1] for gl in wgs for g in gl)
    if kind in ("mono", "block"):
        return True
    return not step[1].batched


def fuse_runs(steps: list[tuple]) -> list[tuple]:
    """Runs of two or more unbatched steps as one ("unitary", steps): built on the identity
    (2**n states) and applied with one GEMM, for batches much larger than 2**n."""
    out: list[tuple] = []
    run: list[tuple] = []

    def close():
        if len(run) >= 2:
            out.append(("unitary", list(run)))
        else:
            out.extend(run)
        run.clear()

    for st in steps:
        if _unbatched(st):
            run.append(st)
        else:
            close()
            out.append(st)
    close()
    return out

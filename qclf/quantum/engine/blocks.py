"""The unitaries of the small-register program on wider registers, as blocks.

Above ``DENSE_MAX_WIRES`` qubits a whole-register matrix costs too much to build and to apply,
so a segment's moments (:func:`.dense._moments`) become steps on the state ``(B, 2**n)``:

* ``blocks``: the gates of a moment packed into blocks of at most ``PROGRAM_BLOCK_WIRES``
  contiguous wires; each block's matrix is gathered from the segment's entry vector (one gather and
  product for all blocks of one width, :func:`.fused.take`) and applied as one strided GEMM on
  the view ``(B * 2**start, 2**k, rest)``. When a moment's gates are not contiguous in the
  state's current wire order, the state is relabelled first (one gather over the amplitudes):
  the wire order changes and later steps use the new one, so a relabelling is paid only when
  the circuit needs it;
* ``perm``: runs of constant permutation gates with phases (CNOT, CZ, SWAP, ...) composed into
  one gather (a relabelling is such a step too);
* ``diag``: a moment of phase gates (RZ, CRZ, MultiRZ, ...) as one diagonal.

The backward is the adjoint of each step, like :mod:`.fused`.
"""

from __future__ import annotations

import numpy as np
import torch

from . import thresholds
from .dense import _const_items, _diag_spec, _gather_index, _moments, _table_items
from .entries import EntryTable, entry_vector
from .fused import _CHUNK, chunked_index, conj, gather_prod_backward, take
from .gates import complex_of
from .kernels import Monomial, local_index
from .plan import Gate


class NotExpressible(Exception):
    """A gate the block program cannot build (the general schedule runs the circuit)."""


def _relabel_src(old: list[int], new: list[int], n: int) -> np.ndarray:
    """``src[x']``: the amplitude index in wire order ``old`` of the index ``x'`` in ``new``."""
    x = np.arange(1 << n)
    pos_old = {w: i for i, w in enumerate(old)}
    src = np.zeros_like(x)
    for p_new, w in enumerate(new):
        bit = (x >> (n - 1 - p_new)) & 1
        src |= bit << (n - 1 - pos_old[w])
    return src


def _pack(groups: list[list[int]], width: int) -> list[list[int]]:
    """Wire groups (each gate's wires) packed greedily into blocks of at most ``width``."""
    blocks: list[list[int]] = []
    for grp in sorted(groups, key=min):
        if blocks and len(blocks[-1]) + len(grp) <= width:
            blocks[-1] = blocks[-1] + grp
        else:
            blocks.append(list(grp))
    return blocks


class BlockUnitary:
    """One segment's batch-independent gates as block / permutation / diagonal steps.

    ``order``: the wire (canonical position) at each amplitude-bit position on entry;
    :attr:`order_out` on exit. ``canonical=True`` with no gates: relabel back to the
    canonical order (before the measurements)."""

    singles: tuple = ()  # every gate goes through the entry table
    index = None  # no whole-register moment tables (see DENSE_MAX_GATHER)

    def __init__(self, gates: list[Gate], n: int, plan, order: list[int],
                 canonical: bool = False):  # fmt: skip
        self.n = n
        self.rdtype, self.cdtype = plan.rdtype, complex_of(plan.rdtype)
        order = list(order)
        moments, kinds = _moments(gates, n)
        items: list[tuple] = []
        offsets: dict[int, int] = {}
        size = 0
        const_entries: list[np.ndarray] = []
        self.steps: list[tuple] = []
        tables: dict[int, list[np.ndarray]] = {}  # block width -> gather tables
        diag_specs: list[tuple] = []

        def pos(w):
            return order.index(w)

        for mo, kind in zip(moments, kinds, strict=True):
            if kind == "const" and all(
                Monomial.of_matrix(g.const.detach().cpu().numpy(), g.pos, n) is not None
                for g in mo
            ):
                for g in mo:
                    mono = Monomial.of_matrix(g.const.detach().cpu().numpy(),
                                              tuple(pos(w) for w in g.pos), n)  # fmt: skip
                    if self.steps and self.steps[-1][0] == "perm":
                        self.steps[-1] = ("perm", self.steps[-1][1].then(mono))
                    else:
                        self.steps.append(("perm", mono))
                continue
            if kind == "diag":
                moved = [g.moved(tuple(pos(w) for w in g.pos)) for g in mo]
                spec, idx = _diag_spec(moved, n)
                diag_specs.append((spec, idx))
                self.steps.append(("diag", len(diag_specs) - 1))
                continue
            # parametrised (or constant, non-permutation) gates in blocks
            size, missing = _table_items(mo, items, offsets, size)
            if missing:
                raise NotExpressible(missing[0].name)
            width = thresholds.PROGRAM_BLOCK_WIRES
            blocks = _pack([[pos(w) for w in g.pos] for g in mo], width)
            if any(max(b) - min(b) + 1 != len(b) for b in blocks):
                new = [order[p] for b in blocks for p in sorted(b)]
                new += [w for w in order if w not in new]
                self.steps.append(("perm", Monomial(_relabel_src(order, new, n), None)))
                order = new
                blocks = _pack([[pos(w) for w in g.pos] for g in mo], width)
            applied = []
            for b in blocks:
                lo, k = min(b), len(b)
                members = [(g, tuple(pos(w) for w in g.pos)) for g in mo
                           if lo <= min(pos(w) for w in g.pos) < lo + k]  # fmt: skip
                applied.append((lo, k, members))
            self.steps.append(("blocks", applied))
        if canonical and order != list(range(n)):
            self.steps.append(("perm", Monomial(_relabel_src(order, list(range(n)), n), None)))
            order = list(range(n))
        self.order_out = order
        # entries: table gates, diagonals, then constant gates, 1 and 0
        for spec, idx in diag_specs:
            items.append((spec, idx))
        self.diag_offsets = []
        for spec, _ in diag_specs:
            self.diag_offsets.append(size)
            size += spec[0].size
        self.table = EntryTable(items, plan.flat_u_size, torch.float64, plan.device) if items \
            else None  # fmt: skip
        for step in self.steps:
            if step[0] != "blocks":
                continue
            for _, _, members in step[1]:
                size = _const_items([g for g, _ in members], const_entries, offsets, size)
        self.one, self.zero = size, size + 1
        consts = np.concatenate(const_entries + [np.array([1.0, 0.0])])
        self.complex = bool((self.table is not None and self.table.complex)
                            or (np.iscomplexobj(consts) and np.any(np.imag(consts))))  # fmt: skip
        dtype = self.cdtype if self.complex else self.rdtype
        self.const_entries = torch.as_tensor(
            consts if self.complex else np.real(consts), device=plan.device
        ).to(dtype)
        # gather tables per block width, in step order
        final_steps = []
        for step in self.steps:
            if step[0] != "blocks":
                final_steps.append(step)
                continue
            placed = []
            for lo, k, members in step[1]:
                tables.setdefault(k, [])
                tables[k].append(self._table(lo, k, members, offsets))
                placed.append((lo, k, len(tables[k]) - 1))
            final_steps.append(("blocks", placed))
        self.steps = final_steps
        self.index: dict = {}
        for k, tabs in tables.items():  # (S, M, 4**k) per block width
            self.index[k] = _gather_index(tabs, self.one, plan.device)
        n_entries = size + 2  # table, constants, 1 and 0
        self.chunked = {k: chunked_index(ix, n_entries) for k, ix in self.index.items()}
        self.perm_tensors = {}
        for i, step in enumerate(self.steps):
            if step[0] != "perm":
                continue
            mono = step[1]
            src = torch.as_tensor(mono.src, device=plan.device)
            inv = torch.empty_like(src)
            inv[src] = torch.arange(len(src), device=plan.device)
            ph = None
            if mono.phase is not None:
                ph = torch.as_tensor(mono.phase, device=plan.device)
                real = not np.any(np.imag(mono.phase))
                ph = (ph.real if real else ph).to(self.rdtype if real else self.cdtype)
            self.perm_tensors[i] = (src, inv, ph)

    def _table(self, lo: int, k: int, members: list[Gate], offsets) -> np.ndarray:
        """Gather table (slots, 4**k) of one block on positions lo .. lo + k - 1."""
        t = np.full((len(members) + 1, 1 << (2 * k)), self.one, dtype=np.int64)
        covered: set[int] = set()
        for s, (g, at) in enumerate(members):
            local = [p - lo for p in at]
            kk = 1 << len(local)
            loc = local_index(local, k)
            t[s] = (offsets[id(g)] + loc[:, None] * kk + loc[None, :]).reshape(-1)
            covered.update(local)
        idle = [p for p in range(k) if p not in covered]
        if idle:
            rl = local_index(idle, k)
            t[-1] = np.where(rl[:, None] == rl[None, :], self.one, self.zero).reshape(-1)
        return t

    # ------------------------------------------------------------------------- run
    # The steps run on the state laid out batch-minor, ``(2**n, B)``: a block on positions
    # lo .. lo + k - 1 is then one (batched) GEMM ``a @ psi.view(2**lo, 2**k, rest * B)`` with
    # no copy, a relabelling gathers whole rows of B amplitudes, and a block's gradient is a
    # GEMM over contiguous rows. Batch-major, the middle blocks needed a transposing copy and
    # 2**lo*B tiny GEMMs, and a gather along the amplitudes ran ~5x slower (12 qubits at 256:
    # see ``thresholds.PROGRAM_BLOCK_MAX_BATCH_RATIO``). The program's state crosses the
    # segment boundary batch-major as a transposed view (no copy between two block segments;
    # the program makes its final state contiguous once).
    def forward(self, psi, flat_u, tape: list, rdtype, cdtype) -> torch.Tensor:
        entries, esaved = None, None
        if self.table is not None or self.index:
            entries, esaved = entry_vector(self.table, self.const_entries, flat_u,
                                           cdtype if self.complex else rdtype)  # fmt: skip
        gathered = {k: take(entries, ix) for k, ix in self.index.items()}  # kept for backward
        mats = {k: g.prod(0).reshape(-1, 1 << k, 1 << k) for k, g in gathered.items()}
        saved = []
        n = self.n
        psi = psi.transpose(0, 1).contiguous()  # (2**n, B)
        for i, step in enumerate(self.steps):
            kind = step[0]
            if kind == "perm":  # constant gates or a relabelling of the wires
                src, _, ph = self.perm_tensors[i]
                saved.append(None)
                psi = psi.index_select(0, src)
                if ph is not None:
                    if ph.is_complex() and not psi.is_complex():
                        psi = psi.to(ph.dtype)
                    psi = psi * ph[:, None]
            elif kind == "diag":
                off = self.diag_offsets[step[1]]
                d = entries[off:off + (1 << n)]
                saved.append(psi)
                if d.is_complex() and not psi.is_complex():
                    psi = psi.to(d.dtype)
                psi = psi * d[:, None]
            else:
                ins = []
                for lo, k, m in step[1]:
                    ins.append(psi)
                    psi = _apply_block(psi, mats[k][m], lo, k)
                saved.append(ins)
        tape.append(("blocks", self, (entries, esaved, gathered), mats, saved))
        return psi.transpose(0, 1)  # a view: the next segment's transpose is free

    def backward(self, item, g, gu):
        """Adjoint steps on ``h = conj(g)`` (batch-minor): a block's adjoint is then ``a^T`` and
        its gradient ``conj(sum_r h psi^T)``, GEMMs on contiguous operands (with ``g``, the
        conjugated operand made every batched GEMM copy the state in transposed order)."""
        _, _, (entries, esaved, gathered), mats, saved = item
        need = gu is not None and self.table is not None
        gmats = {k: torch.zeros_like(m, dtype=_wide(m.dtype)) for k, m in mats.items()} \
            if need else {}  # fmt: skip
        ge = torch.zeros_like(entries, dtype=_wide(entries.dtype)) if need else None
        g_bm = g.transpose(0, 1)
        h = torch.empty(g_bm.shape, dtype=g.dtype, device=g.device)  # (2**n, B), contiguous
        if g.is_complex():
            torch.conj_physical(g_bm, out=h)
        else:
            h.copy_(g_bm)
        for i in reversed(range(len(self.steps))):
            step = self.steps[i]
            kind = step[0]
            if kind == "perm":
                _, inv, ph = self.perm_tensors[i]
                if ph is not None:
                    h = h * ph[:, None]
                h = h.index_select(0, inv)
            elif kind == "diag":
                psi_in = saved[i]
                off = self.diag_offsets[step[1]]
                d = entries[off:off + (1 << self.n)]
                if need:
                    hd = h * psi_in.to(h.dtype) if h.is_complex() else h * psi_in
                    ge[off:off + (1 << self.n)] += conj(hd.sum(1, dtype=_wide(hd.dtype))
                                                        ).to(ge.dtype)  # fmt: skip
                h = h * d[:, None]
                if not psi_in.is_complex() and h.is_complex():
                    h = h.real
            else:
                ins = saved[i]
                for j in reversed(range(len(step[1]))):
                    lo, k, m = step[1][j]
                    a, psi_in = mats[k][m], ins[j]
                    if need:
                        gmats[k][m] += conj(_block_outer(h, psi_in, lo, k)).to(gmats[k].dtype)
                    h = _apply_block(h, a.transpose(0, 1), lo, k)
                    if not psi_in.is_complex() and h.is_complex():
                        h = h.real
        if need:
            for k, gm in gmats.items():
                gm = gm.to(mats[k].dtype)
                ge = ge + gather_prod_backward(entries, self.index[k],
                                               gm.reshape(gm.shape[0], -1), self.chunked[k],
                                               gathered[k])  # fmt: skip
            gt = self.table.backward(esaved, ge[: self.table.size])
            gu.index_add_(0, self.table.used, gt.to(gu.dtype))
        return (torch.conj_physical(h) if h.is_complex() else h).transpose(0, 1)


def _wide(dtype):
    return {torch.float32: torch.float64, torch.complex64: torch.complex128}.get(dtype, dtype)


def _apply_block(psi: torch.Tensor, a: torch.Tensor, lo: int, k: int) -> torch.Tensor:
    """``a`` (K, K) on positions lo .. lo + k - 1 of the batch-minor state ``psi`` (2**n, B)."""
    if a.is_complex() and not psi.is_complex():
        psi = psi.to(a.dtype)
    elif psi.is_complex() and not a.is_complex():
        a = a.to(psi.dtype)
    kk = 1 << k
    if lo == 0:
        return (a @ psi.reshape(kk, -1)).reshape(psi.shape)
    return torch.matmul(a, psi.reshape(1 << lo, kk, -1)).reshape(psi.shape)


def _block_outer(h: torch.Tensor, psi: torch.Tensor, lo: int, k: int) -> torch.Tensor:
    """``sum_{l, r} h[l, i, r] psi[l, j, r]`` of batch-minor ``h`` and ``psi`` (2**n, B): with
    ``h = conj(g)``, the conjugate of a block's matrix gradient. In double precision for
    float32 sums of more than ``fused._CHUNK`` terms (chunks summed in double, like
    :func:`.fused.outer_sum`)."""
    wide = _wide(h.dtype)
    if psi.shape[1] != h.shape[1]:  # one state broadcast over the batch
        h = h.sum(1, keepdim=True, dtype=wide).to(h.dtype)
    if h.is_complex() and not psi.is_complex():
        psi = psi.to(h.dtype)
    elif psi.is_complex() and not h.is_complex():
        h = h.to(psi.dtype)
        wide = _wide(h.dtype)
    kk = 1 << k
    h3 = h.reshape(1 << lo, kk, -1)
    p3 = psi.reshape(1 << lo, kk, -1).transpose(1, 2)
    m = h3.shape[2]
    step = m if h.real.dtype != torch.float32 else _CHUNK
    acc = None
    for c in range(0, m, step):
        part = (h3[:, :, c:c + step] @ p3[:, c:c + step]).sum(0, dtype=wide)
        acc = part if acc is None else acc + part
    return acc

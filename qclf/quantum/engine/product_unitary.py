r"""Angle-encoded product state, one weight-only unitary, Pauli-word expectations: the batch in
cache-sized chunks, laid out batch-minor.

The commonest hybrid circuits — quanvolution filters, ``AngleEmbedding`` + a trainable block —
compile (:mod:`.dense`) to a product state ``s(x)`` of the encoded wires (a first RX/RY per
wire), a single unitary ``W`` of the weights (one segment without phases; the measurement's
basis change included) and Z-word expectations:

.. math:: \langle Z_t\rangle(x) = \sum_i z_{t,i}\,|(W s(x))_i|^2 .

At large batches this is memory-bound: the states of 12,544 four-qubit circuits, their real and
imaginary parts and their gradients are 0.8-1.6 MB each, more than the cache holds, and every
elementwise pass then streams them through memory. Here the forward and the backward run chunk
by chunk (``thresholds.PRODUCT_CHUNK`` circuits), every tensor laid out (amplitude, circuit) so
that elementwise steps run along the batch. Up to ``thresholds.PRODUCT_KEEP_MAX`` circuits the
forward keeps each chunk's product state and amplitudes for the backward; above, it keeps only
the angles and the backward rebuilds each chunk's product state in cache. Only the basis
states with ``|0>`` on the unencoded wires enter (``W``'s other columns never meet a nonzero
amplitude). ``W`` comes from the program's
unitary applied to the identity, and its gradient (summed per chunk in the working precision,
over chunks in double) goes back through the same unitary's adjoint
(:meth:`.dense._Unitary.backward`).
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from . import thresholds
from .bind import Bound
from .fused import differentiable_grads, needs_autograd_backward
from .gates import complex_of


class ProductUnitary:
    """A compiled :class:`.dense.DenseProgram` of the form above with its measurement signs;
    :meth:`compile` returns None for any other program or measurement."""

    def __init__(self, prog, signs: np.ndarray, plan):
        self.unitary = prog.segments[0][0]
        self.n, self.dim = prog.n, 1 << prog.n
        self.prep_cols = prog.prep_cols
        wires = prog.prep_wire_list
        m = len(wires)
        columns = np.zeros(1 << m, dtype=np.int64)  # basis states with |0> elsewhere
        for k, w in enumerate(wires):
            bit = (np.arange(1 << m) >> (m - 1 - k)) & 1
            columns |= bit << (self.n - 1 - w)
        self.columns = torch.as_tensor(columns, device=plan.device)
        self.signs = torch.as_tensor(signs, device=plan.device).to(plan.rdtype)  # (2**n, T)
        self.signs2 = self.signs.repeat_interleave(2, 0)  # rows of (re, im) pairs
        # angle encodings read every batched column in order: the angles are flat_b itself
        self.all_columns = plan.flat_b_size == m and bool(
            np.array_equal(prog.prep_cols.cpu().numpy(), np.arange(m)))  # fmt: skip
        self._kept_pool: list[_ChunkBuffers] = []  # :meth:`kept_buffers`

    @classmethod
    def compile(cls, prog, mplan, plan) -> ProductUnitary | None:
        if (prog is None or prog.prep_cols is None or len(prog.segments) != 1
                or prog.segments[0][1] is not None or prog.n > thresholds.DENSE_MAX_WIRES
                or not prog.fusable or mplan.rotation is None or len(mplan.frames) != 1
                or mplan.frames[0].diag is not None):  # fmt: skip
            return None
        return cls(prog, mplan.frames[0].signs(prog.n), plan)

    def buffers(self) -> _ChunkBuffers:
        """The program's chunk buffers, locked for the caller (who releases ``lock``), or
        fresh ones while another call holds them (a second thread, a forward inside a
        backward)."""
        bufs = self.__dict__.get("_buffers")
        if bufs is None or bufs.width != thresholds.PRODUCT_CHUNK:
            bufs = self._buffers = _ChunkBuffers(thresholds.PRODUCT_CHUNK)
        if not bufs.lock.acquire(blocking=False):
            bufs = _ChunkBuffers(thresholds.PRODUCT_CHUNK)
            bufs.lock.acquire()
        return bufs

    def kept_buffers(self) -> _ChunkBuffers:
        """Buffers for the chunks a forward keeps until its backward: a set from the program's
        pool (the backward hands it back, :meth:`release_kept`), else a new one. Reused like
        the chunk buffers, for the same reason (page faults of fresh buffers); a set whose
        backward never runs is dropped with its autograd node."""
        try:
            return self._kept_pool.pop()
        except IndexError:
            return _ChunkBuffers(thresholds.PRODUCT_CHUNK)

    def release_kept(self, bufs: _ChunkBuffers) -> None:
        if bufs.width == thresholds.PRODUCT_CHUNK and len(self._kept_pool) < 2:
            self._kept_pool.append(bufs)

    def values(self, bound: Bound) -> torch.Tensor:
        """(B, T) expectations of the frame's Z-words."""
        flat_b = bound.flat_b
        theta = flat_b if self.all_columns else flat_b.index_select(1, self.prep_cols)
        return ProductUnitaryExpvals.apply(self, theta, bound.flat_u)

    def values_autograd(self, theta: torch.Tensor, flat_u: torch.Tensor) -> torch.Tensor:
        """(B, T) expectations in torch operations autograd records, batch-major and
        unchunked: the backward under ``create_graph`` differentiates this."""
        wc, is_complex = self.unitary_columns(flat_u, theta.dtype, [])
        half = theta.transpose(0, 1) / 2  # (m, B)
        cs = torch.stack([half.cos(), half.sin()], 1)  # (m, 2, B)
        state = cs[0]
        for w in range(1, cs.shape[0]):
            state = (state[:, None, :] * cs[w][None]).reshape(-1, state.shape[1])
        amp = wc @ state
        signs = self.signs2 if is_complex else self.signs
        return (signs.transpose(0, 1) @ (amp * amp)).transpose(0, 1)

    # ----------------------------------------------------------------------- kernels
    def unitary_columns(self, flat_u, rdtype, tape: list) -> tuple[torch.Tensor, bool]:
        """``W``'s columns of the encoded basis states as real rows (2**n or, for a complex
        ``W``, (re, im) pairs of 2 x 2**n) by 2**m, and whether ``W`` is complex."""
        cdtype = complex_of(rdtype)
        eye = torch.eye(self.dim, dtype=rdtype, device=self.columns.device)
        wt = self.unitary.forward(eye, flat_u, tape, rdtype, cdtype)  # row j: W e_j
        cols = wt.index_select(0, self.columns).transpose(0, 1)  # (2**n, 2**m)
        if not cols.is_complex():
            return cols.contiguous(), False
        return torch.view_as_real(cols).permute(0, 2, 1).reshape(2 * self.dim, -1), True

    def unitary_backward(self, tape: list, gcols: torch.Tensor, is_complex: bool, flat_u):
        """Gradient of ``flat_u`` from that of :meth:`unitary_columns`' result."""
        if is_complex:
            g = torch.view_as_complex(gcols.reshape(self.dim, 2, -1).transpose(1, 2).contiguous())
        else:
            g = gcols
        gwt = torch.zeros(self.dim, self.dim, dtype=g.dtype, device=g.device)
        gwt.index_copy_(0, self.columns, g.transpose(0, 1))
        gu = torch.zeros_like(flat_u)
        self.unitary.backward(tape[0], gwt, gu)
        return gu


class _ChunkBuffers:
    """One chunk's temporaries (product state, amplitudes, their gradients), kept by the
    compiled program from call to call and reused by every chunk: on this machine a fresh
    buffer of a quarter to one MiB costs its page faults each time it is allocated, more than
    the arithmetic that fills it (``experiments/RESULTS.md``). At most one chunk's worth per
    dtype and device (``thresholds.PRODUCT_CHUNK`` columns), freed with the plan; a buffer
    for ``b`` columns is the contiguous front of its ``rows x chunk`` block. One call at a
    time holds them (``lock``, :meth:`ProductUnitary.buffers`)."""

    def __init__(self, width: int):
        self.width, self.flat, self.lock = width, {}, threading.Lock()

    def __call__(self, name: str, rows: int, b: int, like: torch.Tensor) -> torch.Tensor:
        key = (name, like.dtype, like.device)
        t = self.flat.get(key)
        if t is None or t.numel() < rows * self.width:
            t = self.flat[key] = torch.empty(rows * self.width, dtype=like.dtype,
                                             device=like.device)  # fmt: skip
        return t[: rows * b].view(rows, b)


def _product_state(theta: torch.Tensor, bufs: _ChunkBuffers
                   ) -> tuple[list[torch.Tensor], torch.Tensor]:  # fmt: skip
    """Product states of the first k encoded wires, k = 1..m, each (2**k, b) (the last is the
    chunk's state), and each wire's (cos, sin) of the half angle (m, 2, b), from the angles
    (m, b), in ``bufs``' buffers."""
    m, b = theta.shape
    cs = bufs("cs", 2 * m, b, theta).view(m, 2, b)
    half = torch.mul(theta, 0.5, out=bufs("half", m, b, theta))
    torch.cos(half, out=cs[:, 0])
    torch.sin(half, out=cs[:, 1])
    prefixes = [cs[0]]
    for w in range(1, m):
        p = prefixes[-1]
        out = bufs(f"prefix{w}", p.shape[0] * 2, b, theta)
        torch.mul(p[:, None, :], cs[w][None], out=out.view(-1, 2, b))
        prefixes.append(out)
    return prefixes, cs


def _angle_grads(g: torch.Tensor, prefixes, cs, out: torch.Tensor) -> None:
    """Gradient of the angles (m, b) into ``out`` from the product state's gradient g
    (2**m, b): peel the wires off from the last."""
    b = g.shape[1]
    for w in reversed(range(cs.shape[0])):
        g3 = g.reshape(-1, 2, b)
        if w > 0:
            gcs = (g3 * prefixes[w - 1][:, None, :]).sum(0)  # d/d (cos, sin) of wire w
            g = (g3 * cs[w][None]).sum(1)
        else:
            gcs = g3[0]
        c, s = cs[w].unbind(0)
        gc, gs = gcs.unbind(0)
        torch.sub(gs * c, gc * s, out=out[w]).mul_(0.5)


class ProductUnitaryExpvals(torch.autograd.Function):
    """``(B, T)`` expectations of :class:`ProductUnitary` from the angles (B, m) and the
    weights ``flat_u``, chunk by chunk (module doc)."""

    @staticmethod
    def forward(ctx, prog: ProductUnitary, theta, flat_u):
        rdtype = theta.dtype
        with torch.no_grad():
            tape: list = []
            wc, is_complex = prog.unitary_columns(flat_u, rdtype, tape)
            st = (prog.signs2 if is_complex else prog.signs).transpose(0, 1).contiguous()
            tt = theta.transpose(0, 1).contiguous()  # (m, B)
            out = torch.empty(st.shape[0], tt.shape[1], dtype=rdtype, device=theta.device)
            chunk = thresholds.PRODUCT_CHUNK
            # small batches keep each chunk's product state and amplitudes for the backward
            keep = any(ctx.needs_input_grad) and tt.shape[1] <= thresholds.PRODUCT_KEEP_MAX
            kept, kbufs = [], prog.kept_buffers() if keep else None
            bufs = prog.buffers()
            try:
                for i, a in enumerate(range(0, tt.shape[1], chunk)):
                    alloc = bufs if not keep else (
                        lambda name, rows, b, like, i=i: kbufs(f"{i}.{name}", rows, b, like))
                    prefixes, cs = _product_state(tt[:, a : a + chunk], alloc)
                    b = prefixes[-1].shape[1]
                    amp = torch.mm(wc, prefixes[-1], out=alloc("amp", wc.shape[0], b, tt))
                    if keep:
                        kept.append((prefixes, cs, amp))
                        sq = torch.mul(amp, amp, out=bufs("square", wc.shape[0], b, tt))
                    else:
                        sq = amp.mul_(amp)
                    torch.mm(st, sq, out=out[:, a : a + chunk])
            finally:
                bufs.lock.release()
        ctx.prog, ctx.tape, ctx.wc, ctx.is_complex = prog, tape, wc, is_complex
        ctx.kept, ctx.kept_buffers = kept, kbufs
        ctx.save_for_backward(tt, flat_u, theta)  # theta: for a backward under create_graph
        return out.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad):
        tt, flat_u, theta = ctx.saved_tensors
        prog, wc, is_complex = ctx.prog, ctx.wc, ctx.is_complex
        if needs_autograd_backward(grad):  # create_graph or vmap: autograd's own backward
            _hand_back(ctx)
            return (None, *differentiable_grads(lambda: prog.values_autograd(theta, flat_u),
                                                grad, (theta, flat_u), ctx.needs_input_grad[1:]))

        need_t = ctx.needs_input_grad[1]
        need_u = ctx.needs_input_grad[2] and prog.unitary.index is not None
        with torch.no_grad():
            s2 = prog.signs2 if is_complex else prog.signs
            s2 = 2 * s2
            wct = wc.transpose(0, 1).contiguous()
            gt = grad.transpose(0, 1)  # (T, B)
            gtheta = torch.empty_like(tt) if need_t else None
            gwc = torch.zeros(wc.shape, dtype=torch.float64, device=wc.device) if need_u else None
            chunk = thresholds.PRODUCT_CHUNK
            bufs = prog.buffers()
            try:
                for i, a in enumerate(range(0, tt.shape[1], chunk)):
                    if ctx.kept:
                        prefixes, cs, amp = ctx.kept[i]
                        state = prefixes[-1]
                        b = state.shape[1]
                    else:
                        prefixes, cs = _product_state(tt[:, a : a + chunk], bufs)
                        state = prefixes[-1]
                        b = state.shape[1]
                        amp = torch.mm(wc, state, out=bufs("amp", wc.shape[0], b, tt))
                    gamp = torch.mm(s2, gt[:, a : a + chunk], out=bufs("gamp", s2.shape[0], b, tt))
                    gamp.mul_(amp)  # d/d amplitude of sum_r S_rt amp_r^2
                    if need_u:
                        gwc += (gamp @ state.transpose(0, 1)).to(torch.float64)
                    if need_t:
                        gstate = torch.mm(wct, gamp, out=bufs("gstate", wct.shape[0], b, tt))
                        _angle_grads(gstate, prefixes, cs, gtheta[:, a : a + chunk])
            finally:
                bufs.lock.release()
            gu = None
            if need_u:
                gu = prog.unitary_backward(ctx.tape, gwc.to(wc.dtype), is_complex, flat_u)
        _hand_back(ctx)
        return None, (gtheta.transpose(0, 1) if need_t else None), gu


def _hand_back(ctx) -> None:
    """Return a call's kept chunks to the program's pool once its backward has used them (or
    did not need them); a second backward of a retained graph recomputes them."""
    if ctx.kept_buffers is not None:
        ctx.prog.release_kept(ctx.kept_buffers)
    ctx.kept = ctx.kept_buffers = None

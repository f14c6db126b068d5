"""The small-register program (:mod:`.dense`) as one autograd node with a hand-written backward.

Autograd records every torch operation of a call and runs one backward node per operation;
at training batch sizes on a few qubits that bookkeeping, not arithmetic, is the cost of a
call. :class:`FusedProgram` runs the whole program as one ``torch.autograd.Function``: the
forward keeps the few intermediate states it needs, the backward is the adjoint of each step,
vectorised like the forward:

* a unitary ``psi_out = psi_in @ F^T``: ``grad_in = g @ conj(F)``, ``grad_F = g^T @ conj(psi_in)``
  (a sum over the batch, accumulated in double precision for large float32 batches); the
  gradient of a product of moments is split with its prefix products;
* phases ``psi_out = psi_in * exp(i angle)``: ``grad_angle = Im(g * conj(psi_out))``;
* moment matrices from entries (:func:`gather_prod_backward`) and entries from parameters
  (:meth:`.entries.EntryTable.backward`); the product state by prefix/suffix products.

Real parameters get ``Re(conj(grad_z) dz/dx)`` (PyTorch's convention for complex
intermediates). Tests compare values and gradients with PennyLane and with the autograd
version of the same program.
"""

from __future__ import annotations

import torch

_CHUNK = 4096


def conj(t: torch.Tensor) -> torch.Tensor:
    return t.conj() if t.is_complex() else t


def outer_sum(g: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``g^T @ conj(s)`` over the batch (rows); for large float32 batches the GEMM runs per
    chunk of 4,096 rows and the chunks are summed in double precision (a float32 sum over
    200,704 circuits drifts by ~1e-5 relative)."""
    if g.is_complex() and not s.is_complex() and s.shape[0] == g.shape[0]:
        # (re, im) of g as 2 K real columns: one real GEMM, then viewed as complex
        k = g.shape[1]
        gr = torch.view_as_real(g).reshape(g.shape[0], 2 * k)
        out = outer_sum(gr, s)  # (2K, K_in)
        return torch.view_as_complex(out.reshape(k, 2, -1).transpose(1, 2).contiguous())
    if s.shape[0] == 1 and g.shape[0] > 1:  # one state broadcast over the batch
        g = g.sum(0, keepdim=True, dtype=torch.complex128 if g.is_complex() else torch.float64
                  ).to(g.dtype)  # fmt: skip
    if g.real.dtype != torch.float32 or g.shape[0] <= _CHUNK:
        return g.transpose(0, 1) @ conj(s).to(g.dtype if g.is_complex() else s.dtype)
    if g.is_complex() != s.is_complex():
        g, s = (g, s.to(g.dtype)) if g.is_complex() else (g.to(s.dtype), s)
    dtype = torch.complex128 if g.is_complex() else torch.float64
    acc = torch.zeros(g.shape[1], s.shape[1], dtype=dtype, device=g.device)
    gt, sc = g.transpose(0, 1), conj(s)
    for c in range(0, g.shape[0], _CHUNK):  # float32 GEMM per chunk, float64 sum of chunks
        acc += (gt[:, c:c + _CHUNK] @ sc[c:c + _CHUNK]).to(dtype)
    return acc.to(g.dtype)


def take(t: torch.Tensor, index: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """``t[index]`` along ``dim`` for an index tensor of any shape: one ``index_select`` (the
    advanced-indexing path costs several times more per call at these sizes)."""
    out = t.index_select(dim, index.reshape(-1))
    return out.reshape(*t.shape[:dim], *index.shape, *t.shape[dim + 1 :])


def chunked_index(index: torch.Tensor, n_entries: int, chunk: int = 64) -> tuple:
    """``(flat index, C)`` for :func:`gather_prod_backward`: the positions of ``index`` (S, M, X)
    split into C chunks of about ``chunk`` along X, each chunk with its own copy of the entries
    (the gradient of an entry is summed per chunk, then the C partial sums in double)."""
    x = index.shape[-1]
    c = max(1, min(64, x // chunk))
    chunk_id = torch.arange(x, device=index.device) * c // x
    return (index + chunk_id * n_entries).reshape(-1), c


def gather_prod_backward(entries, index, grad, chunked=None, gathered=None):
    """Gradient of ``entries[index].prod(0)`` (index (S, ...): (S, M, X) for whole moments,
    (S, N) for their nonzero entries) with respect to ``entries``;
    returned in double precision. Each slot's factor is the product of the other slots
    (prefix times suffix, exact with zero entries; S is a handful, so one multiply per slot
    costs less than cumulative products, their concatenation and a flip). ``chunked``:
    :func:`chunked_index` of ``index`` (each entry collects up to 4**n / 4 contributions;
    summing them in float32 chunks, then in double, keeps float32 gradients within ~1e-6 of
    float64's). ``gathered``: ``entries[index]`` when the forward kept it."""
    s = index.shape[0]
    g = take(entries, index) if gathered is None else gathered  # (S, ...)
    if s == 1:
        contrib = torch.ones_like(g)
    else:
        contrib = torch.empty_like(g)
        prefix = [g[0]]  # prefix[k]: product of slots 0..k
        for k in range(1, s - 1):
            prefix.append(prefix[-1] * g[k])
        contrib[s - 1] = prefix[s - 2]
        suffix = g[s - 1]  # product of slots k+1..S-1
        for k in range(s - 2, 0, -1):
            torch.mul(prefix[k - 1], suffix, out=contrib[k])
            suffix = suffix * g[k]
        contrib[0] = suffix
    if grad.is_complex() and not contrib.is_complex():
        contrib = contrib.to(grad.dtype)
    # d/d entry of sum grad * conj(...): conj(contrib) * grad = conj(contrib * conj(grad)),
    # conjugated after the sum (n entries instead of S x M x X contributions)
    contrib.mul_((grad.conj() if grad.is_complex() else grad)[None])
    if not entries.is_complex() and contrib.is_complex():
        contrib = contrib.real
    n = entries.shape[0]
    wide = {torch.float32: torch.float64, torch.complex64: torch.complex128}.get(
        contrib.dtype, contrib.dtype
    )
    flat, c = chunked if chunked is not None else (index.reshape(-1), 1)
    out = torch.zeros(c * n, dtype=contrib.dtype, device=grad.device)
    out.index_add_(0, flat, contrib.reshape(-1))
    out = out.reshape(c, n).sum(0, dtype=wide)
    return out.conj() if out.is_complex() else out


def _mm_t(psi: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``psi @ f^T`` with dtypes matched; a real state times a complex matrix is one real GEMM
    with interleaved (re, im) columns, viewed as complex without a copy (half the arithmetic
    of promoting the state)."""
    if f.is_complex() and not psi.is_complex():
        k_out, k_in = f.shape
        w = torch.view_as_real(f).permute(1, 0, 2).reshape(k_in, 2 * k_out)
        return torch.view_as_complex((psi @ w).reshape(psi.shape[0], k_out, 2))
    if psi.is_complex() and not f.is_complex():
        f = f.to(psi.dtype)
    return psi @ f.transpose(0, 1)


def grad_to_real_state(g: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``Re(g @ conj(f))``: the gradient of a real state ``psi`` from that of ``psi @ f^T``
    (one real GEMM on the interleaved (re, im) parts)."""
    if not g.is_complex():
        return g @ (f.real if f.is_complex() else f)
    if not f.is_complex():
        return g.real @ f
    k_out, k_in = f.shape
    m = torch.view_as_real(f).permute(0, 2, 1).reshape(2 * k_out, k_in)
    return torch.view_as_real(g).reshape(g.shape[0], 2 * k_out) @ m


def release_unless_retained(ctx, *names: str) -> None:
    """Drop ``ctx``'s attributes ``names`` (a tape of states) once this backward is over,
    unless the graph is retained: then a second backward needs them. Autograd frees its own
    saved tensors after a backward without ``retain_graph``; this does the same for what a
    Function keeps as attributes. Called from ``backward``: at the end of the backward pass,
    the saved tensors are gone exactly when the graph was not retained. (Without the engine's
    callback queue, a private API, the attributes go at once: no second backward.)"""

    def release():
        try:
            _ = ctx.saved_tensors
        except RuntimeError:  # freed: a backward without retain_graph
            for name in names:
                setattr(ctx, name, None)

    queue = getattr(getattr(torch.autograd.Variable, "_execution_engine", None),
                    "queue_callback", None)  # fmt: skip
    if queue is None:
        for name in names:
            setattr(ctx, name, None)
    else:
        queue(release)


def needs_autograd_backward(grad: torch.Tensor) -> bool:
    """Whether a backward must return what autograd can follow: under ``create_graph``
    (second derivatives), or for a batch of output gradients at once (``vmap`` over the
    backward: ``torch.autograd.functional.jacobian(..., vectorize=True)``,
    ``autograd.grad(..., is_grads_batched=True)``), which the in-place steps of the
    hand-written adjoints cannot take."""
    if torch.is_grad_enabled():
        return True
    checks = [getattr(torch._C._functorch, name, None)
              for name in ("is_batchedtensor", "is_legacy_batchedtensor")]  # fmt: skip
    return any(check is not None and check(grad) for check in checks)


def differentiable_grads(run, grad, inputs, needs) -> tuple:
    """Gradients of ``run()`` (the same steps as the forward, now recorded by autograd) with
    respect to ``inputs``, contracted with ``grad``: under ``create_graph=True`` as a graph of
    their own (second derivatives, gradient penalties), else for a batch of output gradients
    (:func:`needs_autograd_backward`). The hand-written adjoint is for single first
    derivatives; this pays one recorded forward more."""
    create = torch.is_grad_enabled()  # else a batch of output gradients (vmap)
    with torch.enable_grad():
        out = run()
        wanted = [t for t, need in zip(inputs, needs, strict=True) if need and t is not None]
        got = iter(torch.autograd.grad(out, wanted, grad, create_graph=create,
                                       allow_unused=True) if wanted else ())  # fmt: skip
        grads = [next(got) if need and t is not None else None
                 for t, need in zip(inputs, needs, strict=True)]  # fmt: skip
    return tuple(torch.zeros_like(t) if g is None and t is not None and need else g
                 for g, t, need in zip(grads, inputs, needs, strict=True))  # fmt: skip


class FusedProgram(torch.autograd.Function):
    """``psi = program(flat_u, flat_b)`` with the backward of the module doc. A retained graph
    runs its backward again; a freed one raises autograd's own error."""

    @staticmethod
    def forward(ctx, prog, flat_u, flat_b):
        with torch.no_grad():
            tape: list = []
            psi = prog.forward_tape(flat_u, flat_b, tape)
        ctx.prog, ctx.tape = prog, tape
        # the empty tensor marks whether autograd has freed this node's saved tensors
        ctx.save_for_backward(flat_u, flat_b, torch.empty(0))
        return psi

    @staticmethod
    def backward(ctx, grad):
        flat_u, flat_b, _ = ctx.saved_tensors
        release_unless_retained(ctx, "tape")  # at the end of the backward pass
        if needs_autograd_backward(grad):  # create_graph or vmap: autograd's own backward
            return (None, *differentiable_grads(
                lambda: ctx.prog.forward_tape(flat_u, flat_b, [], differentiable=True),
                grad, (flat_u, flat_b), ctx.needs_input_grad[1:]))
        with torch.no_grad():
            gu, gb = ctx.prog.backward_tape(ctx.tape, grad, flat_u, flat_b,
                                            ctx.needs_input_grad[1], ctx.needs_input_grad[2])
        return None, gu, gb

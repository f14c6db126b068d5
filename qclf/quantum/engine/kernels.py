"""State kernels on canonical states: a batch of state vectors as a ``(B, 2**n)`` tensor.

Wire 0 is the most significant bit of the amplitude index and the wire order never changes,
so no gate moves axes:

* a matrix on contiguous wires ``[start, start + k)`` is one (batched) GEMM on the view
  ``(B * 2**start, 2**k, rest)`` (:func:`apply_contiguous`);
* permutation-with-phases gates (CNOT, CZ, SWAP, Toffoli, Paulis, ...) on any wires are one
  gather over the amplitude axis (and one multiply), and runs of them compose into one
  (:class:`Monomial`);
* diagonal gates on any wires multiply by their diagonal spread over the amplitudes
  (:func:`apply_diagonal`);
* only other gates on non-adjacent wires permute the state (two copies, :func:`apply_dense`).

A state is real (``float``) until a complex matrix touches it.
"""

from __future__ import annotations

import numpy as np
import torch

from .gates import complex_of


def _match(s: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if m.is_complex() and not s.is_complex():
        s = s.to(m.dtype)
    elif s.is_complex() and not m.is_complex():
        m = m.to(s.dtype)
    return s, m


class _SharedMatrixGemm(torch.autograd.Function):
    """``out = m @ s3`` for one matrix shared by a large batch ``s3`` (N, K, R), with the
    gradient of ``m`` (a sum over N x R terms) accumulated chunk by chunk in double precision:
    a float32 sum over 200,704 circuits would otherwise drift by ~1e-5 relative."""

    @staticmethod
    def forward(ctx, m, s3):
        ctx.save_for_backward(m, s3)
        if s3.shape[-1] == 1:  # one GEMM (N, K) @ (K, K) instead of N tiny ones
            return (s3.squeeze(-1) @ m.transpose(0, 1)).unsqueeze(-1)
        return torch.matmul(m, s3)

    @staticmethod
    def backward(ctx, g):
        m, s3 = ctx.saved_tensors
        grad_m = grad_s = None
        if ctx.needs_input_grad[1]:
            if g.shape[-1] == 1:
                grad_s = (g.squeeze(-1) @ m.conj()).unsqueeze(-1)
            else:
                grad_s = torch.matmul(m.conj().transpose(0, 1), g)
        if ctx.needs_input_grad[0]:
            acc = torch.zeros(*m.shape, device=m.device,
                              dtype=torch.complex128 if m.is_complex() else torch.float64)
            if g.shape[-1] == 1:  # rows of (N, K): transposed views, no copies
                g2, s2 = g.squeeze(-1), s3.squeeze(-1).conj()
                for c in range(0, g2.shape[0], _CHUNK):
                    acc += (g2[c : c + _CHUNK].transpose(0, 1) @ s2[c : c + _CHUNK]).to(acc.dtype)
            else:
                gk = g.transpose(0, 1).reshape(m.shape[0], -1)  # (K_out, N*R)
                sk = s3.transpose(0, 1).reshape(m.shape[1], -1).conj()  # (K_in, N*R)
                for c in range(0, gk.shape[1], _CHUNK):
                    acc += (gk[:, c : c + _CHUNK] @ sk[:, c : c + _CHUNK].transpose(0, 1)).to(
                        acc.dtype
                    )
            grad_m = acc.to(m.dtype)
        return grad_m, grad_s


_CHUNK = 4096


def _shared_gemm(m: torch.Tensor, s3: torch.Tensor) -> torch.Tensor:
    """``m @ s3`` for ``s3`` (N, K, R); accurate gradient of ``m`` when it needs one."""
    if m.requires_grad and m.real.dtype == torch.float32 and s3.numel() > _CHUNK * m.shape[1]:
        return _SharedMatrixGemm.apply(m, s3)
    if s3.shape[-1] == 1:
        return (s3.squeeze(-1) @ m.transpose(0, 1)).unsqueeze(-1)
    return torch.matmul(m, s3)


def _real_times_complex(s: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``s @ m.T`` for a real state (N, K) and a complex matrix as one real GEMM (N, K) @
    (K, 2K) with interleaved (re, im) columns, viewed as complex without a copy (half the
    arithmetic of promoting the state to complex)."""
    w = torch.stack([m.real, m.imag], 1).reshape(2 * m.shape[0], m.shape[1])  # rows i: re, im
    out = _shared_gemm(w, s.unsqueeze(-1)).squeeze(-1)  # (N, 2K)
    return torch.view_as_complex(out.reshape(s.shape[0], m.shape[0], 2))


def apply_contiguous(s: torch.Tensor, m: torch.Tensor, start: int, k: int, n: int):
    """``m`` (K, K) or batched (B, K, K) on wires ``start .. start + k - 1`` of ``s`` (B, 2**n)."""
    if m.dim() == 2 and start + k == n and m.is_complex() and not s.is_complex():
        b = s.shape[0]
        return _real_times_complex(s.reshape(b << start, 1 << k), m).reshape(b, -1)
    s, m = _match(s, m)
    kk, left, right = 1 << k, 1 << start, 1 << (n - start - k)
    if m.dim() == 2:
        b = s.shape[0]
        if right == 1 and not (m.requires_grad and m.real.dtype == torch.float32):
            out = s.reshape(b * left, kk) @ m.transpose(0, 1)
        else:
            out = _shared_gemm(m, s.reshape(b * left, kk, right))
        return out.reshape(b, -1)
    if s.shape[0] != m.shape[0]:
        s = s.expand(m.shape[0], -1)
    b = s.shape[0]
    if right == 1:
        out = torch.matmul(s.reshape(b, left, kk), m.transpose(1, 2))
    else:
        out = torch.matmul(m[:, None], s.reshape(b, left, kk, right))
    return out.reshape(b, -1)


def local_index(pos, n: int) -> np.ndarray:
    """For every amplitude index: the index of its bits at ``pos`` (pos[0] most significant)."""
    idx = np.arange(1 << n)
    out = np.zeros_like(idx)
    for p in pos:
        out = (out << 1) | ((idx >> (n - 1 - p)) & 1)
    return out


class Monomial:
    """A permutation with phases of the amplitudes: ``out[:, x] = phase[x] * s[:, src[x]]``."""

    def __init__(self, src: np.ndarray, phase: np.ndarray | None):
        self.src, self.phase = src, phase
        self._dev: dict = {}

    @staticmethod
    def of_matrix(m: np.ndarray, pos, n: int) -> Monomial | None:
        """The monomial of a constant gate matrix on ``pos``; None if it is not one."""
        nz = np.abs(m) > 1e-12
        if not np.all(nz.sum(1) == 1):
            return None
        sigma = nz.argmax(1)  # out local i <- in local sigma[i]
        phi = m[np.arange(len(sigma)), sigma]
        loc = local_index(pos, n)
        x = np.arange(1 << n)
        # replace the bits at pos of x by those of sigma[loc[x]]
        src = x.copy()
        new_bits = sigma[loc]
        k = len(pos)
        for j, p in enumerate(pos):
            bit = (new_bits >> (k - 1 - j)) & 1
            src = (src & ~(1 << (n - 1 - p))) | (bit << (n - 1 - p))
        phase = phi[loc]
        if np.allclose(phase, 1):
            phase = None
        return Monomial(src, phase)

    def then(self, other: Monomial) -> Monomial:
        """This monomial followed by ``other``."""
        src = self.src[other.src]
        if self.phase is None and other.phase is None:
            phase = None
        else:
            p1 = np.ones(len(self.src)) if self.phase is None else self.phase
            p2 = np.ones(len(self.src)) if other.phase is None else other.phase
            phase = p2 * p1[other.src]
        return Monomial(src, phase)

    def apply(self, s: torch.Tensor) -> torch.Tensor:
        key = (s.device, s.dtype)
        cached = self._dev.get(key)
        if cached is None:
            src = torch.as_tensor(self.src, device=s.device)
            ph = None
            if self.phase is not None:
                real = not np.any(np.imag(self.phase))
                ph = torch.as_tensor(np.real(self.phase) if real else self.phase, device=s.device)
                ph = ph.to(s.real.dtype if real else complex_of(s.real.dtype))
            cached = self._dev[key] = (src, ph)
        src, ph = cached
        out = s.index_select(1, src)
        if ph is not None:
            out, ph = _match(out, ph)
            out = out * ph
        return out


def apply_diagonal(s: torch.Tensor, diag: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
    """Multiply by a diagonal gate: ``diag`` (K,) or (B, K), ``loc`` the local index per
    amplitude (:func:`local_index`)."""
    d = diag.index_select(-1, loc)
    s, d = _match(s, d)
    return s * d


def apply_dense(s: torch.Tensor, m: torch.Tensor, pos, n: int) -> torch.Tensor:
    """Any matrix on any wires: move them to the end, apply, move back (two copies)."""
    k = len(pos)
    rest = [p for p in range(n) if p not in pos]
    order = rest + list(pos)
    b = s.shape[0]
    t = s.reshape(b, *([2] * n)).permute([0] + [1 + p for p in order]).reshape(b, -1)
    t = apply_contiguous(t, m, n - k, k, n)
    b = t.shape[0]
    inv = [0] + [1 + order.index(p) for p in range(n)]
    return t.reshape(b, *([2] * n)).permute(inv).reshape(b, -1)


def kron2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Kronecker product of (possibly batched) square matrices (..., A, A) x (..., B, B)."""
    a, b = _match(a, b)
    sa, sb = a.shape[-1], b.shape[-1]
    if a.dim() == 2 and b.dim() == 2:  # one view each: fewer autograd nodes than unsqueezes
        return (a.reshape(sa, 1, sa, 1) * b.reshape(1, sb, 1, sb)).reshape(sa * sb, sa * sb)
    out = a[..., :, None, :, None] * b[..., None, :, None, :]
    return out.reshape(*out.shape[:-4], sa * sb, sa * sb)


def _halves(col):
    """(top, bottom) amplitudes of a one-wire state given as (B, 2) or as a pair."""
    if isinstance(col, tuple):
        return col
    return col[:, 0], col[:, 1]


def product_state(cols: list) -> torch.Tensor:
    """Kronecker product of per-wire states in wire order -> (B, 2**n); each state is a (B or
    1, 2) tensor or a (top, bottom) pair of (B or 1,) tensors.

    Built from the last wire up, each earlier wire becoming the most significant bit by
    concatenating the two halves (a backward without reductions over small axes)."""
    top, bot = _halves(cols[-1])
    top, bot = _match(top, bot)
    psi = torch.stack([top, bot], 1)
    for c in reversed(cols[:-1]):
        top, bot = _halves(c)
        lo, hi = psi * top[:, None], psi * bot[:, None]
        if lo.is_complex() != hi.is_complex():
            lo, hi = _match(lo, hi)
        psi = torch.cat([lo, hi], 1)
    return psi

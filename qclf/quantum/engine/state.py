"""State kernels: a batch of state vectors as a real tensor and the gate applications on it.

States are real tensors ``(b, 2, ..., 2, c)``: ``c == 1`` for real amplitudes, ``c == 2`` for
(re, im). All arithmetic is real, so circuits of real gates (RY, CNOT, ...) never pay for
complex numbers and complex ones avoid torch's slow complex reductions. Wire axes are kept in
a lazy order: applying a gate moves its axes to the end (one copy, none when they are already
there) and multiplies by the realified matrix from the right, one GEMM over batch and
spectator amplitudes; :meth:`State.canonical` restores the wire order once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import thresholds
from .gates import complex_of


def realify(m: torch.Tensor, c_in: int) -> tuple[torch.Tensor, int]:
    """Real (c_in*K, c_out*K) matrix W with ``v_real @ W == (M v)_real``.

    Flattening the state's (K, c) axes gives the row index (j, c_in) and column (i, c_out).
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


class State:
    """A batch of state vectors stored as a real tensor ``(b, 2, ..., 2, c)`` (module doc)."""

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
        if m.dim() == 2 and (m.is_complex() or self.c == 2) and (b << n) < thresholds.SMALL_STATE:
            # small state: complex GEMM through zero-copy complex views (fewest torch ops)
            if self.c == 1:
                vc = t.reshape(b, -1, kk).to(m.dtype if m.is_complex() else complex_of(t.dtype))
            else:
                vc = torch.view_as_complex(t.reshape(b, -1, kk, 2).contiguous())
            mc = m if m.is_complex() else m.to(vc.dtype)
            out = torch.view_as_real(torch.matmul(vc, mc.transpose(0, 1)))
            self.c = 2
            self.t = out.reshape(b, *([2] * n), 2)
            return
        if m.dim() == 2:
            w, c_out = realify(m, self.c)
            out = torch.matmul(t.reshape(b, -1, kk * self.c), w)  # (rows, cK) @ (cK, c'K)
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


def as_pair(s: torch.Tensor) -> torch.Tensor:
    """Real/complex (..., K) -> real (..., K, c)."""
    if s.is_complex():
        return torch.view_as_real(s)
    return s[..., None]


def _cmul(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Product of pair tensors (..., c1) * (..., c2) -> (..., c)."""
    if a.shape[-1] == 1 or s.shape[-1] == 1:
        return a * s
    ar, ai, sr, si = a[..., 0], a[..., 1], s[..., 0], s[..., 1]
    return torch.stack([ar * sr - ai * si, ar * si + ai * sr], -1)


def kron_factors(factors, n, rdtype, device) -> torch.Tensor:
    """Kronecker product of blocks ``[(positions, (b, 2**k) real/complex)]`` -> (b, 2**n, c).

    Each new block becomes the most significant part of the index (concatenation along the
    amplitude axis, whose backward needs no slow small-axis reductions).
    """
    order: list[int] = []
    psi = None
    for positions, s in reversed(factors):
        order = list(positions) + order
        s = as_pair(s)  # (b, K, c)
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


def probs_from_state(psi: torch.Tensor) -> torch.Tensor:
    """(b, 2**n, c) real pair -> (b, 2**n) probabilities."""
    sq = psi * psi
    if psi.shape[-1] == 1:
        return sq.reshape(sq.shape[:-1])
    return sq.sum(-1)


def marginal(p: torch.Tensor, positions, n: int) -> torch.Tensor:
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

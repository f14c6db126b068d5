"""States as real pairs ``(b, 2**n, c)`` (``c == 1``: real amplitudes, ``c == 2``: (re, im)):
initial product states of multi-wire factors and probabilities / marginals for measurements."""

from __future__ import annotations

import torch


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
    sq = psi.square()
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

"""Fusion of weight-only (unbatched) gate runs into few matrices applied to the batched state.

Large states: consecutive gates on at most ``BLOCK_MAX_WIRES`` wires become one block matrix,
and a whole run becomes one unitary when a cost model says it pays (:func:`blocks`,
:func:`block_unitary`). Small states: a run becomes one unitary built from layers of
single-qubit gates (one Kronecker product per layer) and constant multi-qubit blocks, which
are built once per plan (:func:`layered_unitary`).
"""

from __future__ import annotations

import torch

from . import thresholds
from .bind import Bound
from .state import State


def block_unitary(blocks, local_positions, k, bound: Bound) -> torch.Tensor:
    """Unitary on ``k`` wires of a sequence of (positions, matrix) blocks (applied to I)."""
    ust = State(torch.eye(1 << k, dtype=bound.rdtype, device=bound.device)[..., None], k)
    for (_, m), lp in zip(blocks, local_positions, strict=True):
        ust.apply(m, lp)
    r = ust.canonical()  # row j is U e_j: r = U^T
    u_t = r[..., 0] if r.shape[-1] == 1 else torch.complex(r[..., 0], r[..., 1])
    return u_t.transpose(0, 1)


def blocks(run, bound: Bound, max_k: int | None = None) -> list:
    """Greedily merge consecutive unbatched gates acting on at most ``max_k`` wires together
    into one matrix each: [(positions, matrix)]."""
    max_k = thresholds.BLOCK_MAX_WIRES if max_k is None else max_k
    out = []
    cur: list = []
    cur_w: list[int] = []

    def flush():
        if not cur:
            return
        if len(cur) == 1:
            out.append((cur_w[:], bound.matrix(cur[0])))
        else:
            ws = sorted(cur_w)
            local = {p: i for i, p in enumerate(ws)}
            mats = [(g.pos, bound.matrix(g)) for g in cur]
            lps = [[local[p] for p in g.pos] for g in cur]
            out.append((ws, block_unitary(mats, lps, len(ws), bound)))

    for g in run:
        union = cur_w + [p for p in g.pos if p not in cur_w]
        if cur and len(union) > max_k:
            flush()
            cur, cur_w = [], []
            union = list(g.pos)
        cur.append(g)
        cur_w = union
    flush()
    return out


def _kron_layer(content, k, bound: Bound) -> torch.Tensor:
    """Kronecker product over ``k`` local wires of the composed single-qubit gates."""
    per = []
    for q in range(k):
        m = None
        for g in content.get(q, ()):
            a = bound.matrix(g)
            if m is None:
                m = a
            else:
                if a.is_complex() != m.is_complex():
                    a, m = a.to(bound.cdtype), m.to(bound.cdtype)
                m = a @ m
        per.append(m)
    cplx = any(m is not None and m.is_complex() for m in per)
    dt = bound.cdtype if cplx else bound.rdtype
    u = None
    for m in per:
        m = torch.eye(2, dtype=dt, device=bound.device) if m is None else m.to(dt)
        u = m if u is None else torch.kron(u, m)
    return u


def layered_unitary(run, wires, bound: Bound) -> torch.Tensor:
    """Unitary of a run of unbatched gates on the sorted positions ``wires``: the product of
    single-qubit layers (one Kronecker product each) and multi-qubit blocks (cached in the
    plan when every gate in the block is constant), ``wires[0]`` most significant."""
    k = len(wires)
    local = {p: i for i, p in enumerate(wires)}
    segs: list = []  # ("kron", {local: [gates]}) | ("block", [(gate, local positions)])
    for g in run:
        lp = [local[p] for p in g.pos]
        if len(lp) == 1:
            if not segs or segs[-1][0] != "kron":
                segs.append(("kron", {}))
            segs[-1][1].setdefault(lp[0], []).append(g)
        else:
            if not segs or segs[-1][0] != "block":
                segs.append(("block", []))
            segs[-1][1].append((g, lp))
    total = None
    for kind, content in segs:
        if kind == "kron":
            u = _kron_layer(content, k, bound)
        else:

            def build(content=content):
                mats = [(lp, bound.matrix(g)) for g, lp in content]
                return block_unitary(mats, [lp for lp, _ in mats], k, bound)

            if all(g.const is not None and g.static for g, _ in content):
                key = ("layered", k, tuple((id(g), tuple(lp)) for g, lp in content))
                u = bound.plan.consts.get(key)
                if u is None:
                    with torch.no_grad():
                        u = build()
                    bound.plan.consts[key] = u
            else:
                u = build()
        if total is None:
            total = u
            continue
        if u.is_complex() != total.is_complex():
            u, total = u.to(bound.cdtype), total.to(bound.cdtype)
        total = u @ total
    return total

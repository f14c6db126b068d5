"""Execution of a bound plan: initial product state, gate runs, measurements.

1. Initial product state: state preparations and single-qubit gates on wires no multi-qubit
   gate has touched yet (they commute with everything before them on other wires) are folded
   into per-wire states whose Kronecker product is the initial state; an RX or RY as the first
   gate on ``|0>`` only needs its first column (a lone RX is S^dagger RY, the constant
   S^dagger joins the fused rest, so RX angle embeddings keep a real product state).
2. The rest: batched gates one by one; runs of unbatched gates fused (:mod:`.fusion`).
3. Measurements (:mod:`.measure`).
"""

from __future__ import annotations

import numpy as np
import torch

from . import thresholds
from .bind import Bound
from .errors import UnsupportedCircuit
from .fusion import block_unitary, blocks, layered_unitary
from .gates import to_dtype
from .plan import Gate
from .state import State, kron_factors

_SDG = np.diag([1, -1j])


def _first_columns(items, bound: Bound, as_ry=frozenset()) -> dict:
    """{wire position: R|0>} for [(position, RX/RY gate)], built per kind together."""
    groups: dict = {}
    for p, g in items:
        groups.setdefault("RY" if p in as_ry else g.name, []).append((p, g))
    out = {}
    for name, group in groups.items():
        ts = [bound.param(g, 0) for _, g in group]
        shapes = {tuple(t.shape) for t in ts}
        stacked = torch.stack(ts) if len(shapes) == 1 else None
        pieces = [stacked] if stacked is not None else [x[None] for x in ts]
        cols_all = []
        for t in pieces:
            c, s = torch.cos(t / 2), torch.sin(t / 2)
            if name == "RY":
                cols_all.append(torch.stack([c, s], -1))
            else:  # RX|0> = (cos, -i sin)
                z = torch.zeros_like(c)
                cols_all.append(torch.complex(torch.stack([c, z], -1), torch.stack([z, -s], -1)))
        for g_i, (p, _) in enumerate(group):
            out[p] = cols_all[0][g_i] if stacked is not None else cols_all[g_i][0]
    return out


def _sdg_gate(p, bound: Bound) -> Gate:
    g = Gate("Sdg", (p,), False)
    g.const = bound.const(("Sdg",), lambda: _SDG)
    return g


def initial_state(gates, bound: Bound, n: int):
    """(State, remaining gates) after folding the product-state part (module doc, step 1)."""
    entangled: set[int] = set()
    touched: set[int] = set()
    folded: dict[int, list] = {}
    factors: list = []
    rest: list = []
    for g in gates:
        pos = g.pos
        if g.state_prep:
            if any(p in touched for p in pos):
                raise UnsupportedCircuit(f"{g.name} after other operations on its wires")
            st = bound.param(g, 0)
            st = to_dtype(st, bound.cdtype if st.is_complex() else bound.rdtype, bound.device)
            if st.dim() == 1:
                st = st[None]
            if st.shape[-1] != 1 << len(pos):
                raise UnsupportedCircuit(f"{g.name} state has the wrong size")
            factors.append((list(pos), st))
            touched.update(pos)
            entangled.update(pos)
            continue
        if len(pos) == 1 and pos[0] not in entangled:
            wops = folded.setdefault(pos[0], [])
            if g.batched or not any(o.batched for o in wops):
                wops.append(g)
                touched.add(pos[0])
                continue
        rest.append(g)
        touched.update(pos)
        entangled.update(pos)

    lone_rx = [p for p, w in folded.items() if len(w) == 1 and w[0].name == "RX" and w[0].srcs]
    if lone_rx and rest:
        rest = [_sdg_gate(p, bound) for p in lone_rx] + rest
    else:
        lone_rx = []
    first_cols = _first_columns(
        [(p, w[0]) for p, w in folded.items() if w[0].name in ("RX", "RY") and w[0].srcs],
        bound,
        as_ry=set(lone_rx),
    )
    bound.prefetch([g for p, w in folded.items() for g in w[1 if p in first_cols else 0 :]] + rest)
    wire_state: dict[int, torch.Tensor] = {}
    for p, wops in folded.items():
        s = first_cols.get(p)
        for g in wops[1:] if s is not None else wops:
            m = bound.matrix(g)
            if s is None:
                s = m[..., :, 0]
                continue
            if m.is_complex() and not s.is_complex():
                s = s.to(m.dtype)
            elif s.is_complex() and not m.is_complex():
                m = m.to(s.dtype)
            s = (m @ s[..., None])[..., 0]
        wire_state[p] = s if s.dim() == 2 else s[None]

    zero = None
    for p in range(n):
        if any(p in f[0] for f in factors):
            continue
        s = wire_state.get(p)
        if s is None:
            if zero is None:
                zero = torch.zeros(1, 2, dtype=bound.rdtype, device=bound.device)
                zero[0, 0] = 1
            s = zero
        factors.append(([p], s))
    factors.sort(key=lambda f: min(f[0]) if f[0] else -1)
    return State(kron_factors(factors, n, bound.rdtype, bound.device), n), rest


def apply_rest(state: State, rest, bound: Bound, n: int, fuse: bool) -> None:
    """Batched gates one by one, unbatched runs fused (module doc, step 2)."""
    i = 0
    while i < len(rest):
        g = rest[i]
        if g.batched or not fuse:
            state.apply(bound.matrix(g), g.pos)
            i += 1
            continue
        j = i
        wires: list[int] = []
        while j < len(rest) and not rest[j].batched:
            for p in rest[j].pos:
                if p not in wires:
                    wires.append(p)
            j += 1
        run = rest[i:j]
        k = len(wires)
        i = j
        if state.t.shape[0] << n < thresholds.SMALL_STATE:  # small: per-op overhead dominates
            if len(run) > 1 and k <= thresholds.SMALL_FUSE_MAX_WIRES:
                wires.sort()
                state.apply(layered_unitary(run, wires, bound), wires)
            else:
                for o in run:
                    state.apply(bound.matrix(o), o.pos)
            continue
        blks = blocks(run, bound)
        # cost model (multiply-adds + ~3 copies per application): fuse the run if cheaper
        per_state = sum((1 << len(bp)) + 3 for bp, _ in blks)
        b = state.t.shape[0]
        gate_by_gate = b * (1 << n) * per_state
        fused = (1 << k) * (1 << k) * per_state + b * (1 << n) * ((1 << k) + 3)
        if len(blks) > 1 and k <= thresholds.FUSE_MAX_WIRES and fused < gate_by_gate:
            wires.sort()
            local = {p: idx for idx, p in enumerate(wires)}
            u = block_unitary(blks, [[local[p] for p in bp] for bp, _ in blks], k, bound)
            state.apply(u, wires)
        else:
            for bp, m in blks:
                state.apply(m, bp)


def final_state(gates, bound: Bound, n: int, fuse: bool, rotation) -> torch.Tensor:
    """The canonical (b, 2**n, c) state after ``gates`` (and the measurement ``rotation``)."""
    state, rest = initial_state(gates, bound, n)
    if rotation:
        rest = rest + rotation
    apply_rest(state, rest, bound, n, fuse)
    return state.canonical()

"""Execution of a bound plan: initial product state, the schedule's kernels, measurements.

1. Initial product state: state preparations and single-qubit gates on wires no multi-qubit
   gate has touched yet (they commute with everything before them on other wires) are folded
   into per-wire states whose Kronecker product is the initial state; an RX or RY as the first
   gate on ``|0>`` only needs its first column (a lone RX is S^dagger RY, the constant
   S^dagger joins the next layer, so RX angle embeddings keep a real product state).
2. The rest: the steps of :mod:`.schedule`, compiled once per plan, run by :func:`run_schedule`
   with the kernels of :mod:`.kernels`.
3. Measurements (:mod:`.measure`) on the final canonical state.
"""

from __future__ import annotations

import numpy as np
import torch

from . import thresholds
from .bind import Bound
from .errors import UnsupportedCircuit
from .gates import to_dtype
from .kernels import apply_contiguous, apply_dense, apply_diagonal, kron2, product_state
from .plan import Gate
from .schedule import fuse_runs, schedule
from .state import kron_factors

_SDG = np.diag([1, -1j])


def _first_columns(items, bound: Bound, as_ry=frozenset()) -> dict:
    """{wire position: (top, bottom)} amplitudes of R|0> for [(position, RX/RY gate)], each a
    (B,) or (1,) tensor; the angles of one kind come from one gather when they are slots."""
    groups: dict = {}
    for p, g in items:
        groups.setdefault("RY" if p in as_ry else g.name, []).append((p, g))
    out = {}
    for name, group in groups.items():
        kinds = {g.srcs[0][0] for _, g in group}
        scalar = all(g.srcs[0][1].dim() == 0 for _, g in group if g.srcs[0][0] in ("u", "b"))
        if len(kinds) == 1 and kinds <= {"u", "b"} and scalar:
            idx = torch.stack([g.srcs[0][1] for _, g in group]).to(bound.device)
            t = bound.flat_b[:, idx] if kinds == {"b"} else bound.flat_u[idx][None]
            angles = t.unbind(1)
        else:
            angles = [bound.param(g, 0).reshape(-1) for _, g in group]
        for (p, _), a in zip(group, angles, strict=True):
            c, s = torch.cos(a / 2), torch.sin(a / 2)
            if name == "RX":  # RX|0> = (cos, -i sin)
                s = torch.complex(torch.zeros_like(s), -s)
            out[p] = (c, s)
    return out


def _sdg_gate(p, bound: Bound) -> Gate:
    g = Gate("Sdg", (p,), False)
    g.const = bound.const(("Sdg",), lambda: _SDG)
    return g


def _fold(gates):
    """Split ``gates`` into state preparations, per-wire folded gates and the rest (step 1)."""
    entangled: set[int] = set()
    touched: set[int] = set()
    folded: dict[int, list] = {}
    preps: list[Gate] = []
    rest: list = []
    for g in gates:
        pos = g.pos
        if g.state_prep:
            if any(p in touched for p in pos):
                raise UnsupportedCircuit(f"{g.name} after other operations on its wires")
            preps.append(g)
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
    if not rest:
        lone_rx = []
    return preps, folded, lone_rx, rest


def initial_state(gates, bound: Bound, n: int):
    """(state (B, 2**n), remaining gates) after folding the product-state part (step 1)."""
    static = not bound.plan.has_dynamic
    fold = bound.plan.consts.get("fold") if static else None
    if fold is None:
        fold = _fold(gates)
        if static:
            bound.plan.consts["fold"] = fold
    preps, folded, lone_rx, rest = fold
    factors: list = []
    for g in preps:
        st = bound.param(g, 0)
        st = to_dtype(st, bound.cdtype if st.is_complex() else bound.rdtype, bound.device)
        if st.dim() == 1:
            st = st[None]
        if st.shape[-1] != 1 << len(g.pos):
            raise UnsupportedCircuit(f"{g.name} state has the wrong size")
        factors.append((list(g.pos), st))
    if lone_rx:
        rest = [_sdg_gate(p, bound) for p in lone_rx] + rest
    first_cols = _first_columns(
        [(p, w[0]) for p, w in folded.items() if w[0].name in ("RX", "RY") and w[0].srcs],
        bound,
        as_ry=set(lone_rx),
    )
    bound.prefetch([g for p, w in folded.items() for g in w[1 if p in first_cols else 0 :]] + rest)
    wire_state: dict = {}
    for p, wops in folded.items():
        s = first_cols.get(p)
        if s is not None and len(wops) == 1:
            wire_state[p] = s  # (top, bottom) amplitudes
            continue
        if s is not None:
            s = torch.stack([s[0].to(s[1].dtype), s[1]], -1)
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

    if not factors:
        zero = torch.tensor([[1.0, 0.0]], dtype=bound.rdtype, device=bound.device)
        return product_state([wire_state.get(p, zero) for p in range(n)]), rest
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
        if isinstance(s, tuple):
            s = torch.stack([s[0].to(s[1].dtype), s[1]], -1)
        factors.append(([p], s))
    factors.sort(key=lambda f: min(f[0]) if f[0] else -1)
    pairs = kron_factors(factors, n, bound.rdtype, bound.device)
    psi = pairs.squeeze(-1) if pairs.shape[-1] == 1 else torch.view_as_complex(pairs.contiguous())
    return psi, rest


def _layer_matrix(wire_gates: list[list[Gate]], bound: Bound) -> torch.Tensor | None:
    """Kronecker product over consecutive wires of each wire's composed gates."""
    total = None
    for gates in wire_gates:
        m = None
        for g in gates:
            a = bound.matrix(g)
            if m is None:
                m = a
            else:
                if a.is_complex() != m.is_complex():
                    a, m = a.to(bound.cdtype), m.to(bound.cdtype)
                m = a @ m
        if m is None:
            m = torch.eye(2, dtype=bound.rdtype, device=bound.device)
        total = m if total is None else kron2(total, m)
    return total


def run_schedule(psi: torch.Tensor, steps, bound: Bound, n: int) -> torch.Tensor:
    for step in steps:
        kind = step[0]
        if kind == "layer":
            for start, k, wire_gates in step[1]:
                psi = apply_contiguous(psi, _layer_matrix(wire_gates, bound), start, k, n)
        elif kind == "block":
            _, start, k, inner, const, ident = step
            u = bound.plan.consts.get(("block", ident)) if const else None
            if u is None:
                with torch.set_grad_enabled(torch.is_grad_enabled() and not const):
                    eye = torch.eye(1 << k, dtype=bound.rdtype, device=bound.device)
                    u = run_schedule(eye, inner, bound, k).transpose(0, 1)  # rows: U e_j
                if const:
                    bound.plan.consts[("block", ident)] = u
            psi = apply_contiguous(psi, u, start, k, n)
        elif kind == "mono":
            psi = step[1].apply(psi)
        elif kind == "unitary":
            eye = torch.eye(1 << n, dtype=bound.rdtype, device=bound.device)
            u = run_schedule(eye, step[1], bound, n).transpose(0, 1)  # rows of eye: U e_j
            psi = apply_contiguous(psi, u, 0, n, n)
        elif kind == "diag":
            _, g, loc = step
            if g.name == "DiagonalQubitUnitary":  # its parameter is the diagonal
                d = bound.param(g, 0)
                d = d.to(bound.cdtype) if d.is_complex() else d
            else:
                d = torch.diagonal(bound.matrix(g), dim1=-2, dim2=-1)
            loc_t = bound.const(("loc", g.pos, n), lambda loc=loc: loc, torch.long)
            psi = apply_diagonal(psi, d, loc_t)
        elif kind == "contig":
            _, g, start, k, perm = step
            m = bound.matrix(g)
            if perm is not None:
                p = bound.const(("perm", g.pos), lambda perm=perm: perm, torch.long)
                m = m.index_select(-1, p).index_select(-2, p)
            psi = apply_contiguous(psi, m, start, k, n)
        else:
            g = step[1]
            psi = apply_dense(psi, bound.matrix(g), g.pos, n)
    return psi


def final_state(gates, bound: Bound, n: int, fuse: bool, rotation) -> torch.Tensor:
    """The canonical state (B, 2**n), real or complex, after ``gates`` and ``rotation``."""
    psi, rest = initial_state(gates, bound, n)
    if rotation:
        rest = rest + rotation
    key = ("schedule", fuse)
    steps = bound.plan.consts.get(key) if not bound.plan.has_dynamic else None
    if steps is None:
        # fuse=False: one step per gate (tests compare both)
        steps = schedule(rest, n) if fuse else [s for g in rest for s in schedule([g], n)]
        if not bound.plan.has_dynamic:
            bound.plan.consts[key] = steps
    if fuse and psi.shape[0] >= thresholds.RUN_FUSE_MIN_RATIO << n:
        fused = bound.plan.consts.get(("fused", id(steps)))
        if fused is None:
            fused = bound.plan.consts[("fused", id(steps))] = fuse_runs(steps)
        steps = fused
    return run_schedule(psi, steps, bound, n)

"""Binding one call's tensors to a plan: flat parameter vectors and gate matrices.

The unbatched real data of all top-level operations become one vector ``flat_u`` and the
batched data one matrix ``flat_b`` (batch, columns); every closed-form gate parameter is an
index into them, so the matrices of all gates of one kind are built by one gather and one
vectorised closed form (:mod:`.gates`), forward and backward.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import UnsupportedCircuit
from .gates import GATES, complex_of, is_real_gate, to_dtype
from .plan import CircuitPlan, Gate


class Bound:
    """One call of a plan: its flat vectors, batch size and the matrices built so far."""

    def __init__(self, plan: CircuitPlan, ops, flat=None):
        """``flat``: (flat_u, flat_b, batch) to use instead of the operations' data."""
        self.plan = plan
        self.ops = ops
        self.rdtype, self.cdtype, self.device = plan.rdtype, complex_of(plan.rdtype), plan.device
        self._pre: dict[int, torch.Tensor] = {}
        if flat is not None:
            self.flat_u, self.flat_b, self.batch = flat
            return
        us, bs = [], []
        batch = None
        for slot in plan.slots:
            d = ops[slot.op_index].data[slot.data_index]
            if isinstance(d, torch.Tensor):
                t = d.to(device=self.device, dtype=self.rdtype)
            else:
                t = torch.as_tensor(np.asarray(d, dtype=np.float64), dtype=self.rdtype,
                                    device=self.device)  # fmt: skip
            if slot.batched:
                if batch is None:
                    batch = t.shape[0]
                elif t.shape[0] != batch:
                    raise UnsupportedCircuit(f"batch sizes {batch} and {t.shape[0]} differ")
                bs.append(t.reshape(t.shape[0], -1))
            else:
                us.append(t.reshape(-1))
        self.flat_u = torch.cat(us) if us else None
        self.flat_b = torch.cat(bs, 1) if len(bs) > 1 else (bs[0] if bs else None)
        self.batch = batch

    # ------------------------------------------------------------------ parameters
    def param(self, g: Gate, j: int) -> torch.Tensor:
        kind, v = g.srcs[j]
        if kind == "u":
            return self.flat_u[v]
        if kind == "b":
            return self.flat_b[:, v]
        if kind == "bb":
            return self.flat_b[:, v[0]] * self.flat_b[:, v[1]]
        if kind == "c":
            return v.to(self.device, self.rdtype)
        if kind == "d":
            v = self.ops[v[0]].data[v[1]]
        if isinstance(v, torch.Tensor):
            if v.is_complex():
                return v.to(self.device)
            return v.to(self.device, self.rdtype)
        return torch.as_tensor(np.asarray(v), device=self.device)

    def prefetch(self, gates) -> None:
        """Build the matrices of same-kind closed-form gates together (one gather each)."""
        static = all(g.static for g in gates)
        groups = self.plan.consts.get("prefetch") if static else None
        if groups is None:
            groups = _groups(gates, self.device)
            if static:
                self.plan.consts["prefetch"] = groups
        for name, k, kinds, group, idx in groups:
            params = [self.flat_u[ix] if kind == "u" else self.flat_b[:, ix]
                      for kind, ix in zip(kinds, idx, strict=True)]  # fmt: skip
            mats = GATES[name].build(list(torch.broadcast_tensors(*params)), k, self.cdtype)
            for g, m in zip(group, mats.unbind(1 if "b" in kinds else 0), strict=True):
                self._pre[id(g)] = m

    # -------------------------------------------------------------------- matrices
    def matrix(self, g: Gate) -> torch.Tensor:
        """Matrix of a gate: (K, K) or batched (B, K, K), real or complex."""
        if g.const is not None:
            return g.const
        m = self._pre.get(id(g.origin or g))
        if m is not None:
            return m
        params = [self.param(g, j) for j in range(g.num_params)]
        if g.name in GATES:
            if any(p.is_complex() for p in params):
                raise UnsupportedCircuit("complex gate parameter")
            return GATES[g.name].build(list(torch.broadcast_tensors(*params)), len(g.pos),
                                       self.cdtype)  # fmt: skip
        try:
            m = g.op_type.compute_matrix(*params, **g.hyper)
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedCircuit(f"matrix of {g.name} failed: {exc}") from exc
        return to_dtype(m, self.rdtype if is_real_gate(g.name) else self.cdtype, self.device)

    def const(self, key, fn, dtype=None) -> torch.Tensor:
        """A constant of this plan (built once; real if its values are real)."""
        ck = (key, dtype)
        m = self.plan.consts.get(ck)
        if m is None:
            val = np.asarray(fn())
            if dtype is None:
                real = not np.iscomplexobj(val) or not np.any(np.imag(val))
                dtype = self.rdtype if real else self.cdtype
            m = to_dtype(val, dtype, self.device)
            self.plan.consts[ck] = m
        return m


def _groups(gates, device) -> list[tuple]:
    """Same-kind closed-form gates with scalar flat parameters: (name, wires, kinds, gates,
    index tensors per parameter)."""
    groups: dict = {}
    for g in gates:
        if g.const is not None or g.name not in GATES or not g.srcs:
            continue
        kinds = tuple(kind for kind, _ in g.srcs)
        if not all(k in ("u", "b") for k in kinds) or any(v.dim() != 0 for _, v in g.srcs):
            continue
        groups.setdefault((g.name, len(g.pos), kinds), []).append(g)
    out = []
    for (name, k, kinds), group in groups.items():
        if len(group) >= 2:
            idx = [torch.stack([g.srcs[j][1] for g in group]).to(device)
                   for j in range(len(kinds))]  # fmt: skip
            out.append((name, k, kinds, group, idx))
    return out


class DirectBinding:
    """The flat vectors of a plan taken straight from a layer's input and weights, without
    recording the quantum function: ``flat_u = cat(sources)[u_index]`` and
    ``flat_b = x.reshape(B, -1)[:, b_index]``. Found once per input signature, when every
    parameter slot of the plan is a view of the input or of a weight (``None`` otherwise)."""

    def __init__(self, u_index, b_index, batched: bool, x_unbatched: bool, b_scale=None):
        self.u_index, self.b_index = u_index, b_index
        self.batched, self.x_unbatched = batched, x_unbatched
        self.b_scale = b_scale  # per flat_b column: the factor of ``scale * x[..., i]``
        self._dev: dict = {}

    def _key(self) -> tuple:
        return (self.u_index, self.b_index, self.batched, self.x_unbatched, self.b_scale)

    def __eq__(self, other) -> bool:
        return isinstance(other, DirectBinding) and self._key() == other._key()

    __hash__ = None

    @classmethod
    def find(cls, plan: CircuitPlan, ops, x: torch.Tensor, weights) -> DirectBinding | None:
        from .plan import _view_index  # noqa: PLC0415

        x_unbatched = x.dim() <= 1
        sources = ([x] if x_unbatched else []) + list(weights)
        offsets = np.cumsum([0] + [t.numel() for t in sources])
        u_index: list[int] = []
        b_index: list[int] = []
        b_scale: list[float] = []
        batched = False
        for slot in plan.slots:
            d = ops[slot.op_index].data[slot.data_index]
            if not isinstance(d, torch.Tensor) or d.dtype != plan.rdtype:
                return None
            if slot.batched:
                if x_unbatched:
                    return None
                batched = True
                idx = _view_index(d, x)
                if idx is None:  # ``scale * x[..., i]`` (angle encodings): a scaled column
                    found = _scaled_column(d, x.reshape(x.shape[0], -1), len(b_index))
                    if found is None:
                        return None
                    b_index.append(found[0])
                    b_scale.append(found[1])
                    continue
                if idx.dim() == 0 or idx.shape[0] != x.shape[0]:
                    return None
                flat = idx.reshape(idx.shape[0], -1)
                cols = flat - torch.arange(flat.shape[0])[:, None] * (x.numel() // x.shape[0])
                if not bool((cols == cols[0]).all()):
                    return None
                b_index.extend(cols[0].tolist())
                b_scale.extend([1.0] * cols.shape[1])
                continue
            for k, src in enumerate(sources):
                idx = _view_index(d, src)
                if idx is not None:
                    u_index.extend((idx.reshape(-1) + int(offsets[k])).tolist())
                    break
            else:
                return None
        scale = None if all(c == 1.0 for c in b_scale) else tuple(b_scale)
        return cls(tuple(u_index), tuple(b_index), batched, x_unbatched, scale)

    def bind(self, plan: CircuitPlan, x: torch.Tensor, weights) -> Bound:
        dev = self._dev.get(x.device)
        if dev is None:
            dev = self._dev[x.device] = (
                torch.tensor(self.u_index, dtype=torch.long, device=x.device),
                torch.tensor(self.b_index, dtype=torch.long, device=x.device),
                self.b_index == tuple(range(x.shape[-1])) if x.dim() > 1 else False,
            )
        u_index, b_index, b_identity = dev[:3]
        if self.b_scale is not None and len(dev) == 3:
            dev = self._dev[x.device] = (*dev, torch.tensor(self.b_scale, dtype=x.dtype,
                                                            device=x.device))  # fmt: skip
        flat_u = flat_b = None
        batch = None
        if self.u_index:
            sources = ([x] if self.x_unbatched else []) + list(weights)
            cat = torch.cat([t.reshape(-1) for t in sources])
            flat_u = cat.index_select(0, u_index)
        if self.batched:
            batch = x.shape[0]
            xb = x.reshape(batch, -1)
            flat_b = xb if b_identity else xb.index_select(1, b_index)
            if self.b_scale is not None:
                flat_b = flat_b * dev[3]
        return Bound(plan, None, (flat_u, flat_b, batch))


#: input columns searched for ``scale * x[..., i]`` when binding directly
SCALED_MAX_COLUMNS = 64


def _scaled_column(d: torch.Tensor, xb: torch.Tensor, guess: int) -> tuple[int, float] | None:
    """``(column, scale)`` with ``d == xb[:, column] * scale`` exactly (the same float
    multiplication as ``scale * x[..., i]``), trying column ``guess`` first."""
    if d.dim() != 1 or d.shape[0] != xb.shape[0] or d.dtype != xb.dtype:
        return None
    order = [guess] + [c for c in range(min(xb.shape[1], SCALED_MAX_COLUMNS)) if c != guess]
    for col in order:
        if col >= xb.shape[1]:
            continue
        xc = xb[:, col]
        nz = xc != 0
        if not bool(nz.any()):
            continue
        ratio = (d[nz].double() / xc[nz].double()).median().item()
        scale = torch.tensor(ratio, dtype=xb.dtype).item()
        if torch.equal(xc * torch.tensor(scale, dtype=xb.dtype), d):
            return col, scale
    return None

"""Compile once, replay: a recorded circuit's structure as a plan of gates with parameter slots.

Compiling a circuit decomposes its recorded (top-level) operations once and records, for every
gate parameter, where it comes from: a slot of the flattened data of the top-level operations
(a view of it, found from strides: template decompositions index their weights and features), a
constant (checked by decomposing a second time with perturbed data), or, when neither holds,
the top-level operation is decomposed again at every call ("dynamic"). Later calls record the
quantum function (cheap: a few top-level operations), look the plan up by its structure key
and only bind the new tensors: one concatenation of the unbatched data, one of the batched
data, and one gather per gate kind (see :mod:`.bind`).

A changed structure (operations, wires, hyperparameters, shapes, measurements, dtype, device)
gives a different key and compiles again: a plan is never reused for another structure.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pennylane as qml
import torch

from . import thresholds
from .errors import UnsupportedCircuit
from .expand import expand_operations, is_leaf, is_state_prep
from .gates import GATES, SKIPPED, to_dtype

# ------------------------------------------------------------------------------------ gates


@dataclass(eq=False)
class Gate:
    """One gate of a plan. ``srcs[j]`` says where parameter j comes from:

    ``("u", idx)``: ``flat_u[idx]`` (unbatched data), ``("b", cols)``: ``flat_b[:, cols]``
    (batched data), ``("d", (i, j))``: data j of top-level operation i as recorded,
    ``("c", tensor)``: a constant, ``("t", tensor)``: a tensor of this call (dynamic gates),
    ``("bb", (a, b))``: ``flat_b[:, a] * flat_b[:, b]`` (products of features, IQP).
    """

    name: str
    pos: tuple[int, ...]
    batched: bool
    srcs: tuple = ()
    const: torch.Tensor | None = None  # matrix of a gate without parameters
    op_type: type | None = None  # for compute_matrix of parameterised gates without a closed form
    hyper: dict = field(default_factory=dict)
    state_prep: bool = False
    static: bool = True
    origin: Gate | None = None  # the plan's gate this one is a re-positioned copy of

    def moved(self, pos: tuple[int, ...]) -> Gate:
        """This gate on other wire positions (same parameters and matrix)."""
        return dataclasses.replace(self, pos=pos, origin=self.origin or self)

    @property
    def num_params(self) -> int:
        return len(self.srcs)


def hyper_key(op) -> tuple:
    """Hashable form of an operation's hyperparameters (arrays by value)."""
    out = []
    for k, v in sorted(op.hyperparameters.items()):
        if "wires" in k:
            continue
        if isinstance(v, qml.operation.Operator):  # e.g. the base of a controlled gate:
            # its structure, not its parameters (they are the controlled gate's data)
            out.append((k, v.name, tuple(v.wires), hyper_key(v)))
        elif isinstance(v, np.ndarray | torch.Tensor):
            a = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
            out.append((k, a.shape, a.tobytes()))
        else:
            out.append((k, repr(v)))
    return tuple(out)


def op_batched(op) -> bool:
    """PennyLane's ``op.batch_size is not None`` without its per-operation validation: a data
    entry is a broadcast when it has more dimensions than ``op.ndim_params`` says."""
    data = op.data
    if data and all(getattr(d, "ndim", None) == 0 or isinstance(d, float | int) for d in data):
        return False  # scalar parameters are never batched
    try:
        nd = op.ndim_params
        return any(np.ndim(d) > nd[j] for j, d in enumerate(data) if j < len(nd))
    except Exception:  # noqa: BLE001 - fall back to PennyLane's own answer
        try:
            return op.batch_size is not None
        except Exception:  # noqa: BLE001
            return True


def data_batched(op) -> tuple[bool, ...]:
    """Per data entry of ``op``: does it carry a leading batch dimension?"""
    if not op_batched(op):
        return (False,) * len(op.data)
    nd = op.ndim_params
    return tuple(
        getattr(d, "ndim", 0) > nd[j] if nd is not None and j < len(nd) else False
        for j, d in enumerate(op.data)
    )


def _is_real_data(d) -> bool:
    if isinstance(d, torch.Tensor):
        return not d.is_complex()
    return not np.iscomplexobj(d)


def structure_key(ops, mps, wire_order, rdtype, device) -> tuple:
    """Everything a plan depends on; the batch dimension is masked out of data shapes."""
    parts = []
    for op in ops:
        shapes = []
        for d, b in zip(op.data, data_batched(op), strict=True):
            shape = tuple(getattr(d, "shape", ()))
            shapes.append((-1, *shape[1:]) if b else shape)
            shapes.append(_is_real_data(d))
        parts.append((op.name, tuple(op.wires), hyper_key(op), tuple(shapes)))
    return (tuple(parts), tuple(_measurement_key(m) for m in mps), tuple(wire_order), rdtype,
            str(device))  # fmt: skip


def _measurement_key(mp) -> tuple:
    """A measurement's structure and constants (cheaper than ``mp.hash``): its kind, wires, the
    observable's printed form and its data by value (coefficients, Hermitian matrices)."""
    obs = mp.obs
    if obs is None:
        return (type(mp).__name__, tuple(mp.wires), getattr(mp, "mv", None) is not None)
    data = []
    for d in obs.data:
        a = np.asarray(d.detach().cpu() if isinstance(d, torch.Tensor) else d)
        data.append((a.shape, a.tobytes()))
    return (type(mp).__name__, tuple(mp.wires), repr(obs), tuple(data))


# ------------------------------------------------------------------------------- provenance


def _view_index(p, d) -> torch.Tensor | None:
    """Flat indices into ``d.reshape(-1)`` of the elements of ``p`` if ``p`` is a view of
    ``d``'s elements, else None."""
    if not (isinstance(p, torch.Tensor) and isinstance(d, torch.Tensor)):
        return None
    if p.dtype != d.dtype or p.untyped_storage().data_ptr() != d.untyped_storage().data_ptr():
        return None
    size = d.untyped_storage().nbytes() // d.element_size()
    ar = torch.arange(size)
    try:
        pos_d = ar.as_strided(d.shape, d.stride(), d.storage_offset()).reshape(-1)
        pos_p = ar.as_strided(p.shape, p.stride(), p.storage_offset())
    except RuntimeError:
        return None
    inv = torch.full((size,), -1, dtype=torch.long)
    inv[pos_d] = torch.arange(d.numel())
    idx = inv[pos_p]
    return None if bool((idx < 0).any()) else idx


#: features of one data entry searched for products (``x_i x_j``) at compile time
PRODUCT_MAX_FEATURES = 32


class _Dynamic(Exception):
    """This top-level operation must be decomposed at every call."""


@dataclass
class _Slot:
    """Where the real data of top-level operations lands in the flat vectors."""

    op_index: int
    data_index: int
    batched: bool
    offset: int  # in flat_u (unbatched) or in the columns of flat_b (batched)
    size: int  # elements (per batch element when batched)


class CircuitPlan:
    """A compiled circuit: gates with parameter slots, the measurement plan and the plan's own
    constants (built once, freed with the plan)."""

    def __init__(self, ops, mps, wire_order, rdtype, device):
        from .measure import MeasurementPlan  # noqa: PLC0415 - measure imports plan's Gate

        self.rdtype, self.device = rdtype, torch.device(device)
        self.wire_order = list(wire_order)
        self.n = len(self.wire_order)
        self.wire_pos = {w: i for i, w in enumerate(self.wire_order)}
        self.consts: dict = {}  # constant matrices / index tensors of this plan
        self.slots: list[_Slot] = []
        self.slot_of: dict[tuple[int, int], _Slot] = {}
        self._layout(ops)
        # items: Gate (static) or int (index of a dynamic top-level op)
        self.items: list = []
        with qml.QueuingManager.stop_recording():
            for i, op in enumerate(ops):
                try:
                    self.items.extend(self._compile_op(i, op))
                except _Dynamic:
                    self.items.append(i)
            self.measurements = MeasurementPlan(mps, self)
        self.has_dynamic = any(isinstance(it, int) for it in self.items)
        # gates reading their data from the recorded operations: every call records
        self.reads_ops = any(kind == "d" for it in self.items if not isinstance(it, int)
                             for kind, _ in it.srcs)  # fmt: skip

    # ---------------------------------------------------------------------- layout
    def _layout(self, ops):
        off_u = off_b = 0
        for i, op in enumerate(ops):
            for j, (d, b) in enumerate(zip(op.data, data_batched(op), strict=True)):
                if not _is_real_data(d):
                    continue
                shape = tuple(getattr(d, "shape", ()))
                size = int(np.prod(shape[1:] if b else shape, dtype=np.int64))
                slot = _Slot(i, j, b, off_b if b else off_u, size)
                if b:
                    off_b += size
                else:
                    off_u += size
                self.slots.append(slot)
                self.slot_of[(i, j)] = slot
        self.flat_u_size, self.flat_b_size = off_u, off_b

    def positions(self, wires) -> tuple[int, ...]:
        try:
            return tuple(self.wire_pos[w] for w in wires)
        except KeyError as exc:
            raise UnsupportedCircuit(f"operation on unknown wire {exc}") from exc

    # --------------------------------------------------------------------- compile
    def _leaf_srcs(self, i, op) -> tuple:
        srcs = []
        for j, d in enumerate(op.data):
            slot = self.slot_of.get((i, j))
            if slot is None:  # not real data (a complex matrix): read from the recording
                srcs.append(("d", (i, j)))
                continue
            shape = tuple(getattr(d, "shape", ()))
            if slot.batched:
                srcs.append(("b", torch.arange(slot.size).reshape(shape[1:]) + slot.offset))
            else:
                srcs.append(("u", torch.arange(slot.size).reshape(shape) + slot.offset))
        return tuple(srcs)

    def _gate(self, op, srcs, batched, static=True) -> Gate:
        name = op.name
        g = Gate(name, self.positions(op.wires), batched, tuple(srcs), static=static,
                 state_prep=is_state_prep(op))  # fmt: skip
        if is_state_prep(op):
            return g
        if name not in GATES:
            if not op.has_matrix:
                raise UnsupportedCircuit(f"operation {name} has no matrix")
            g.op_type, g.hyper = type(op), dict(op.hyperparameters)
        if all(kind == "c" for kind, _ in srcs) and static:
            g.const = self.const_matrix(op, g)
            g.srcs, g.batched = (), False
        return g

    def const_matrix(self, op, g) -> torch.Tensor:
        """The matrix of a gate without free parameters, built once (real when it is real)."""
        cdtype = torch.complex128 if self.rdtype == torch.float64 else torch.complex64
        with torch.no_grad():
            if op.name in GATES and g.srcs:
                params = [s.to(self.device, self.rdtype) for _, s in g.srcs]
                m = GATES[op.name].build(params, len(g.pos), cdtype)
            else:
                try:
                    m = op.matrix()
                except Exception as exc:  # noqa: BLE001
                    raise UnsupportedCircuit(f"matrix of {op.name} failed: {exc}") from exc
        m = to_dtype(m, cdtype, self.device)
        if not bool(torch.any(m.imag != 0)):
            m = m.real.to(self.rdtype)
        return m

    def _compile_op(self, i, op) -> list[Gate]:
        if op.name in SKIPPED:
            return []
        if is_leaf(op):
            srcs = self._leaf_srcs(i, op)
            if not op.data:
                return [self._gate(op, (), False)]
            batched = any(kind == "b" for kind, _ in srcs) or op_batched(op)
            return [self._gate(op, srcs, batched)]
        if not op.data:  # structure depends only on name, wires, hyperparameters
            gates = []
            for s in expand_operations([op]):
                consts = [_const_param(p) for p in s.data]
                if any(c is None for c in consts):
                    raise _Dynamic
                gates.append(self._gate(s, [("c", c) for c in consts], False))
            return gates
        return self._compile_template(i, op)

    def _compile_template(self, i, op) -> list[Gate]:
        subs = expand_operations([op])
        try:
            perturbed = qml.ops.functions.bind_new_parameters(
                op, [_perturb(d) for d in op.data]
            )
            subs2 = expand_operations([perturbed])
        except Exception as exc:  # noqa: BLE001 - values matter to the decomposition
            raise _Dynamic from exc
        if len(subs) != len(subs2):
            raise _Dynamic
        batched_data = data_batched(op)
        gates = []
        for s, s2 in zip(subs, subs2, strict=True):
            if (s.name, tuple(s.wires), len(s.data)) != (s2.name, tuple(s2.wires), len(s2.data)):
                raise _Dynamic
            if hyper_key(s) != hyper_key(s2) and s.name not in GATES:
                raise _Dynamic
            srcs = []
            for p, p2 in zip(s.data, s2.data, strict=True):
                srcs.append(self._source(i, op, perturbed, batched_data, p, p2))
            batched = any(kind in ("b", "bb") for kind, _ in srcs) or op_batched(s)
            if not s.data and not is_leaf(s):
                raise _Dynamic
            gates.append(self._gate(s, srcs, batched))
        return gates

    def _source(self, i, op, perturbed, batched_data, p, p2):
        for j, (d, d2) in enumerate(zip(op.data, perturbed.data, strict=True)):
            slot = self.slot_of.get((i, j))
            idx = _view_index(p, d) if slot is not None else None
            if idx is None:
                continue
            if _view_index(p2, d2) is None or not torch.equal(_view_index(p2, d2), idx):
                raise _Dynamic
            if not batched_data[j]:
                return ("u", idx + slot.offset)
            if idx.dim() == 0:
                raise _Dynamic  # an unbatched element of batched data
            rows = torch.arange(idx.shape[0]).reshape(-1, *([1] * (idx.dim() - 1)))
            cols = idx - rows * slot.size
            if not bool((cols == cols[0]).all()):
                raise _Dynamic
            return ("b", cols[0] + slot.offset)
        product = self._product_source(i, op, perturbed, batched_data, p, p2)
        if product is not None:
            return product
        # not a view of the data: a constant if it does not move with the data
        c1, c2 = _const_param(p), _const_param(p2)
        if c1 is None or c2 is None or c1.shape != c2.shape or not torch.equal(c1, c2):
            raise _Dynamic
        if isinstance(p, torch.Tensor) and p.requires_grad:
            raise _Dynamic
        return ("c", c1)

    def _product_source(self, i, op, perturbed, batched_data, p, p2):
        """``("bb", (col_a, col_b))`` if ``p`` is the product of two features of one batched
        data entry (IQPEmbedding's ``x_i x_j``), in this recording and the perturbed one."""
        if not (isinstance(p, torch.Tensor) and p.dim() == 1 and not p.is_complex()):
            return None
        for j, (d, d2) in enumerate(zip(op.data, perturbed.data, strict=True)):
            slot = self.slot_of.get((i, j))
            if slot is None or not batched_data[j] or not isinstance(d, torch.Tensor):
                continue
            if d.shape[0] != p.shape[0] or slot.size > PRODUCT_MAX_FEATURES:
                continue
            f, f2 = d.reshape(d.shape[0], -1), d2.reshape(d2.shape[0], -1)
            for a in range(f.shape[1]):
                for b in range(a, f.shape[1]):
                    if torch.equal(p, f[:, a] * f[:, b]) and torch.equal(p2, f2[:, a] * f2[:, b]):
                        return ("bb", torch.tensor([a, b]) + slot.offset)
        return None

    # ------------------------------------------------------------------- per call
    def gates(self, ops) -> list[Gate]:
        """The gate list of this call (dynamic operations decomposed again)."""
        if not self.has_dynamic:
            return self.items
        out = []
        with qml.QueuingManager.stop_recording():
            for it in self.items:
                if not isinstance(it, int):
                    out.append(it)
                    continue
                for s in expand_operations([ops[it]]):
                    srcs = [("t", p) for p in s.data]
                    out.append(self._gate(s, srcs, op_batched(s), static=False))
        return out


def _const_param(p) -> torch.Tensor | None:
    if isinstance(p, torch.Tensor):
        return None if p.is_complex() else p.detach().to(torch.float64).cpu()
    a = np.asarray(p)
    if np.iscomplexobj(a) or a.dtype == object:
        return None
    return torch.as_tensor(a, dtype=torch.float64)


def _perturb(d):
    if isinstance(d, torch.Tensor):
        return d.detach().clone() + 0.3711
    return np.asarray(d) + 0.3711


class PlanCache:
    """Compiled plans of one layer, least recently used dropped beyond ``max_plans``."""

    def __init__(self, max_plans: int = thresholds.PLAN_CACHE_SIZE):
        self.max_plans = max_plans
        self._plans: OrderedDict = OrderedDict()
        self.compiles = 0  # how many plans were compiled (a test checks replay)
        #: input signature -> (plan, direct binding, output structure, flat) or None; kept
        #: by :class:`qclf.TorchLayer` (calls that skip recording the quantum function)
        self.direct: dict = {}

    def get(self, ops, mps, wire_order, rdtype, device) -> CircuitPlan:
        key = structure_key(ops, mps, wire_order, rdtype, device)
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
            return plan
        plan = CircuitPlan(ops, mps, wire_order, rdtype, device)
        self.compiles += 1
        self._plans[key] = plan
        while len(self._plans) > self.max_plans:
            _, dropped = self._plans.popitem(last=False)
            self.direct = {k: v for k, v in self.direct.items()
                           if v is None or v[0] is not dropped}  # fmt: skip
        return plan

    def clear(self) -> None:
        """Drop every plan (and the device tensors they hold)."""
        self._plans.clear()
        self.direct.clear()

    def __getstate__(self) -> dict:
        """Copies and pickles of a layer start with an empty cache (plans are rebuilt)."""
        return {"max_plans": self.max_plans, "_plans": OrderedDict(), "compiles": 0,
                "direct": {}}  # fmt: skip

    def __len__(self) -> int:
        return len(self._plans)

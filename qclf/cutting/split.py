"""``split(qnode, max_qubits)``: run a PennyLane circuit as fragments that fit fewer qubits.

The QNode's quantum function is recorded with the call's tensors, decomposed into gates of at
most two wires where possible, cut (automatically, or where the user says: ``cuts=[(wire,
after_op), ...]`` or ``qml.WireCut`` in the circuit) and reconstructed exactly on the torch engine
(:mod:`qclf.cutting.reconstruct`). The plan is computed once per circuit structure and reused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pennylane as qml
import torch
from torch import nn

from qclf.cutting.graph import Cut, CutError, Fragment, find_cuts, fragments, normalise_cuts
from qclf.cutting.identity import sampling_overhead
from qclf.cutting.observables import measurement_words
from qclf.cutting.reconstruct import engine_execute, word_values
from qclf.quantum import PlanCache, expand_operations


@dataclass
class CutPlan:
    """How a circuit is split: its cuts, fragments (wires, widths) and the cost of the cut."""

    wires: list[Hashable]
    cuts: list[Cut]
    fragments: list[Fragment]
    op_names: list[str]

    @property
    def n_cuts(self) -> int:
        return len(self.cuts)

    @property
    def max_width(self) -> int:
        return max(f.width for f in self.fragments)

    @property
    def circuits_per_sample(self) -> int:
        """Fragment circuits one sample needs on hardware (4 preparations x 3 bases per cut)."""
        return sum(f.circuits_per_sample for f in self.fragments)

    @property
    def sampling_overhead(self) -> int:
        """Shots needed for the uncut circuit's precision: up to 16^k times more."""
        return sampling_overhead(self.n_cuts)

    def describe(self) -> str:
        lines = [f"{len(self.wires)}-qubit circuit, {self.n_cuts} cut(s) "
                 f"{[(w, self.op_names[i] + f'#{i}') for w, i in self.cuts]}, "
                 f"{len(self.fragments)} fragments of at most {self.max_width} qubits, "
                 f"{self.circuits_per_sample} fragment circuits per sample, sampling overhead "
                 f"{self.sampling_overhead}x"]
        for f in self.fragments:
            lines.append(f"  fragment {f.index}: wires {f.wires} ({f.width} qubits), "
                         f"{len(f.ops)} ops, prepared cuts {sorted(f.in_cuts)}, measured cuts "
                         f"{sorted(f.out_cuts)}, {f.circuits_per_sample} circuits/sample")
        return "\n".join(lines)


def _expand(ops: Sequence) -> tuple[list, list[Cut]]:
    """Gates of at most two wires where a decomposition exists; ``qml.WireCut`` -> cuts."""
    out: list = []
    cuts: list[Cut] = []
    last_on: dict[Hashable, int] = {}

    def add(op) -> None:
        if op.name == "WireCut":
            for w in op.wires:
                if w not in last_on:
                    raise CutError(f"qml.WireCut on wire {w!r} before any gate on it")
                cuts.append((w, last_on[w]))
            return
        if len(op.wires) > 2 and op.has_decomposition:
            for sub in op.decomposition():
                add(sub)
            return
        for sub in expand_operations([op]):
            if len(sub.wires) > 2 and sub.has_decomposition and sub is not op:
                add(sub)
                continue
            for w in sub.wires:
                last_on[w] = len(out)
            out.append(sub)

    with qml.QueuingManager.stop_recording():
        for op in ops:
            add(op)
    return out, cuts


def _structure(ops: Sequence, measurements: Sequence) -> tuple:
    return (tuple((op.name, tuple(op.wires)) for op in ops),
            tuple(repr(m) for m in measurements))


class SplitCircuit:
    """A QNode run as fragments of at most ``max_qubits`` qubits; call it like the QNode.

    Attributes:
        plan: the :class:`CutPlan` of the last call (``None`` before the first call);
            :meth:`plan_for` computes it for given arguments without running anything.
    """

    def __init__(self, qnode: Callable, max_qubits: int, cuts: Sequence[Cut] | None = None,
                 max_cuts: int = 3) -> None:
        self.qnode = qnode
        self.func = getattr(qnode, "func", qnode)
        self.max_qubits, self.max_cuts = int(max_qubits), int(max_cuts)
        self.user_cuts = list(cuts) if cuts is not None else None
        self.plan: CutPlan | None = None
        self._plans: dict[tuple, CutPlan] = {}
        self.plans = PlanCache()  # the engine's compiled fragment circuits, owned here

    def record(self, *args: Any, **kwargs: Any) -> qml.tape.QuantumScript:
        return qml.tape.make_qscript(self.func)(*args, **kwargs)

    def plan_for(self, *args: Any, **kwargs: Any) -> CutPlan:
        tape = self.record(*args, **kwargs)
        ops, marked = _expand(tape.operations)
        return self._plan(tape, ops, marked)

    def _plan(self, tape, ops, marked) -> CutPlan:
        key = _structure(ops, tape.measurements)
        if key in self._plans:
            return self._plans[key]
        wires = list(tape.wires)
        measured = [w for m in tape.measurements for w in (m.wires or wires)]
        op_wires = [list(op.wires) for op in ops]
        if self.user_cuts is not None or marked:
            cuts = normalise_cuts([*(self.user_cuts or []), *marked], wires)
        else:
            cuts = find_cuts(op_wires, wires, self.max_qubits, self.max_cuts, keep=measured)
        frags = fragments(op_wires, wires, cuts, keep=measured)
        widest = max(f.width for f in frags)
        if widest > self.max_qubits:
            raise CutError(f"with the cuts {cuts} a fragment has {widest} qubits, more than "
                           f"max_qubits={self.max_qubits}; add cuts or omit them to search")
        plan = CutPlan(wires, cuts, frags, [op.name for op in ops])
        self._plans[key] = plan
        return plan

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out, kinds = self._run(args, kwargs)
        return _unpack(out, kinds)

    def estimate(self, *args: Any, backend: Any, **kwargs: Any) -> tuple[Any, Any]:
        """Values and standard errors with every fragment run on ``backend``
        (:func:`qclf.backends.get_backend`: Aer with shots and noise, ``fake:<name>``,
        ``ibm:<name>``), shots honoured per fragment circuit. Returns ``(values, stderr)``
        shaped like the QNode's output; the error is propagated from the fragments' own."""
        from qclf.cutting.reconstruct import backend_execute, propagate_errors

        leaves: list = []
        with torch.enable_grad():
            out, kinds = self._run(args, kwargs, execute=backend_execute(backend), leaves=leaves)
            batched = out.ndim > 1
            table = out if batched else out.unsqueeze(0)
            se = propagate_errors(table, leaves) if leaves else torch.zeros_like(table)
        se = se if batched else se[0]
        return _unpack(out.detach(), kinds), _unpack(se.detach(), kinds)

    def _run(self, args, kwargs, execute=None, leaves=None):
        if execute is None:
            def execute(*a):
                return engine_execute(*a, cache=self.plans)

        tape = self.record(*args, **kwargs)
        ops, marked = _expand(tape.operations)
        plan = self.plan = self._plan(tape, ops, marked)
        words, matrix, kinds = measurement_words(tape.measurements, plan.wires)
        first = next((p for op in ops for p in op.data if isinstance(p, torch.Tensor)), None)
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float64
        device = first.device if first is not None else torch.device("cpu")
        values = _word_table(plan, ops, words, dtype, device, execute, leaves)
        return values @ matrix.to(dtype=dtype, device=device).T, kinds


def _unpack(out: torch.Tensor, kinds) -> Any:
    results, start = [], 0
    for kind, size in kinds:
        piece = out[..., start:start + size]
        results.append(piece[..., 0] if kind == "expval" else piece)
        start += size
    return results[0] if len(results) == 1 else tuple(results)


def _word_table(plan: CutPlan, ops, words, dtype, device, execute=None, leaves=None
                ) -> torch.Tensor:
    nonempty = [w for w in words if w]
    vals = word_values(plan.fragments, ops, plan.cuts, nonempty, plan.wires, dtype, device,
                       execute, leaves) if nonempty else None
    cols, k = [], 0
    for w in words:
        if w:
            cols.append(vals[..., k])
            k += 1
        else:
            ref = vals[..., 0] if vals is not None else torch.ones((), dtype=dtype)
            cols.append(torch.ones_like(ref))
    return torch.stack(cols, dim=-1)


def split(qnode: Callable, max_qubits: int, cuts: Sequence[Cut] | None = None,
          max_cuts: int = 3) -> SplitCircuit:
    """The QNode ``qnode`` run as fragments of at most ``max_qubits`` qubits.

    Args:
        qnode: a QNode (or quantum function) ``f(inputs, *weights)`` returning ``expval`` of
            Pauli words / sums of them, several of them, or ``probs`` of wires.
        max_qubits: the widest fragment allowed.
        cuts: ``[(wire, after_op_index), ...]`` to place the cuts yourself (op indices of the
            decomposed circuit, see ``.plan_for(...).op_names``); ``qml.WireCut`` in the
            circuit works too. Default: the fewest cuts found by search.
        max_cuts: how many cuts the search may use.

    Returns:
        a callable with the QNode's signature and outputs (batched inputs included),
        differentiable in torch; ``.plan`` describes the split.
    """
    return SplitCircuit(qnode, max_qubits, cuts, max_cuts)


class CutLayer(nn.Module):
    """``qml.qnn.TorchLayer``-style module running its QNode as fragments.

    ``CutLayer(qnode, {"weights": shape}, max_qubits=5)``: weights are initialised uniformly in
    ``[0, 2 pi)`` like PennyLane's layer; inputs ``(..., n)`` keep their leading dimensions.
    """

    def __init__(self, qnode: Callable, weight_shapes: dict[str, Any], max_qubits: int,
                 cuts: Sequence[Cut] | None = None, max_cuts: int = 3) -> None:
        super().__init__()
        self.split = SplitCircuit(qnode, max_qubits, cuts, max_cuts)
        self.weight_names = list(weight_shapes)
        for name, shape in weight_shapes.items():
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            self.register_parameter(name, nn.Parameter(torch.rand(shape) * 2 * math.pi))

    @property
    def plan(self) -> CutPlan | None:
        return self.split.plan

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        lead = inputs.shape[:-1]
        flat = inputs.reshape(-1, inputs.shape[-1])
        weights = {n: getattr(self, n).to(flat.dtype) for n in self.weight_names}
        out = self.split(flat, **weights)
        if isinstance(out, tuple):
            out = torch.cat([o.reshape(flat.shape[0], -1) for o in out], dim=-1)
        return out.reshape(*lead, -1) if out.ndim > 1 else out.reshape(*lead)

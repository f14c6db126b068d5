"""The engine's one way to run a circuit: compile (or look up) a plan, bind, execute, measure."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

import pennylane as qml
import torch

from . import thresholds
from .bind import Bound
from .compiled import CompiledProgram
from .dense import DenseProgram
from .errors import UnsupportedCircuit
from .execute import final_state
from .guard import check_memory
from .plan import CircuitPlan, PlanCache
from .product_unitary import ProductUnitary
from .shots import ShotEstimates, check_shot_plan, sampled_results

logger = logging.getLogger("qclf.quantum")


def run_plan(plan: CircuitPlan, ops: Sequence | None, *, fuse: bool = True,
             shots: int | None = None, generator: torch.Generator | None = None,
             bound: Bound | None = None, stacked: bool = False, compile: bool = False):
    """Results of ``plan`` for the recorded top-level operations ``ops`` of this call (or for
    the flat parameters of an already ``bound`` call of a plan without dynamic operations);
    with ``shots``, finite-shot estimates with parameter-shift gradients (:mod:`.shots`).
    ``stacked``: return one (B, T) tensor instead of the list when the measurements allow it
    (:attr:`.measure.MeasurementPlan.stack_terms`). ``compile``: run the small-register
    program through ``torch.compile`` where it can (:mod:`.compiled`; else, said once in the
    log, as usual)."""
    with qml.QueuingManager.stop_recording():
        bound = Bound(plan, ops) if bound is None else bound
        gates = plan.gates(ops)
        batched = bound.batch is not None or any(g.batched for g in gates)
        batch = bound.batch or 1
        if batch > plan.consts.get("memory checked", 0):  # smaller batches need less
            check_memory(plan.n, batch, plan.rdtype, plan.device)
            plan.consts["memory checked"] = batch
        mplan = plan.measurements
        if shots is not None:
            check_shot_plan(plan)

            def runner(flat_u, flat_b):
                b = Bound(plan, ops, (flat_u, flat_b, bound.batch))
                psi = final_state(gates, b, plan.n, fuse, None)
                return sampled_results(psi, mplan, batched, batch, shots, generator, plan.rdtype)

            return list(ShotEstimates.apply(runner, bound.flat_u, bound.flat_b))
        dense = form = psi = values = None
        if fuse and plan.n <= thresholds.PROGRAM_MAX_WIRES:
            dense = _dense_program(plan, gates)
            if batch >= thresholds.PRODUCT_MIN_BATCH_RATIO << plan.n:
                form = _product_unitary(plan, dense)
            ratio = (thresholds.DENSE_MAX_BATCH_RATIO if plan.n <= thresholds.DENSE_MAX_WIRES
                     else thresholds.PROGRAM_BLOCK_MAX_BATCH_RATIO)  # fmt: skip
            if dense is not None and batch > ratio << plan.n and not dense.has_phases:
                dense = None  # one fused unitary on the general schedule costs no more
        if form is not None:  # the frame's values without a state
            values = [form.values(bound)]
        elif dense is not None:
            program = _compiled_program(plan, dense) if compile else None
            frame_values = program.run(bound) if program is not None else None
            if frame_values is not None:  # like the product form's: the one frame's values
                values = [frame_values]
            else:
                psi = dense.final_state(bound)
        else:
            psi = final_state(gates, bound, plan.n, fuse, mplan.rotation)
        prerotated = bool(mplan.rotation) or values is not None
        if stacked and mplan.stack_terms is not None:
            return mplan.evaluate_stacked(psi, bound, batched, prerotated, batch, values)
        return mplan.evaluate(psi, bound, batched, prerotated, batch, values)


@contextlib.contextmanager
def outside_inference_mode() -> Iterator[None]:
    """Run the engine as a plain no-grad call when the caller is in ``torch.inference_mode()``:
    what a call caches (plans, index tables, buffers) would otherwise be inference tensors,
    unusable by every later call under autograd. The result is the same, without a graph."""
    if not torch.is_inference_mode_enabled():
        yield
        return
    with torch.inference_mode(False), torch.no_grad():
        yield


def _compiled_program(plan: CircuitPlan, dense: DenseProgram) -> CompiledProgram | None:
    """The plan's :class:`.compiled.CompiledProgram`, built on first use; None (the reason
    logged once) when the program cannot be expressed or compiled."""
    if "compiled" not in plan.consts:
        try:
            plan.consts["compiled"] = CompiledProgram(dense, plan.measurements, plan)
        except UnsupportedCircuit as exc:
            logger.warning("qclf: compile=True: this circuit runs without torch.compile: %s",
                           exc)  # fmt: skip
            plan.consts["compiled"] = None
    return plan.consts["compiled"]


def _product_unitary(plan: CircuitPlan, dense: DenseProgram | None) -> ProductUnitary | None:
    """The program as product state + one unitary + Z-words, if it is (:mod:`.product_unitary`)."""
    if "product unitary" not in plan.consts:
        plan.consts["product unitary"] = ProductUnitary.compile(dense, plan.measurements, plan)
    return plan.consts["product unitary"]


def _dense_program(plan: CircuitPlan, gates) -> DenseProgram | None:
    """The plan's small-register program, compiled on first use (None: not expressible)."""
    if "dense" not in plan.consts:
        plan.consts["dense"] = DenseProgram.compile(plan, gates, plan.measurements.rotation)
    return plan.consts["dense"]


def _default_dtype_device(ops, dtype, device):
    first = next((p for op in ops for p in op.data if isinstance(p, torch.Tensor)), None)
    if dtype is None:
        dtype = first.dtype if first is not None and first.is_floating_point() else None
        dtype = dtype or torch.float64
    if device is None:
        device = first.device if first is not None else torch.device("cpu")
    rdtype = dtype if dtype in (torch.float32, torch.float64) else torch.float64
    return rdtype, torch.device(device)


def simulate(
    circuit,
    measurements=None,
    wire_order=None,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    fuse: bool = True,
    cache: PlanCache | None = None,
):
    """Simulate a recorded circuit with batched torch state vectors (differentiable).

    Args:
        circuit: a ``QuantumScript``/tape, or a sequence of operations (then
            ``measurements`` must be given). Parameters are torch tensors (a leading
            broadcast dimension batches them), numbers or arrays.
        measurements: ``expval``/``var``/``probs`` processes; taken from the tape if omitted.
        wire_order: wires of the register (default: the circuit's wires in order of
            appearance). ``probs()`` without wires covers this whole register.
        dtype: real dtype of the computation (float32 -> complex64 amplitudes, float64 ->
            complex128). Default: the dtype of the first torch parameter, else float64.
        device: torch device. Default: the device of the first torch parameter, else CPU.
        fuse: fuse runs of unbatched gates into one unitary.
        cache: a :class:`PlanCache` to compile the circuit's structure once and replay it
            (e.g. the fragments of a cut circuit run at every step); ``None`` compiles per call.

    Returns:
        list of torch tensors, one per measurement, shaped like PennyLane's results:
        expval/var -> ``(B,)`` (``()`` unbatched), probs -> ``(B, 2**k)`` (``(2**k,)``).

    Raises:
        UnsupportedCircuit: if something in the circuit cannot be simulated here.
        MemoryLimitExceeded: if the batch of state vectors would not fit in memory.
    """
    if measurements is None:
        ops, measurements = list(circuit.operations), list(circuit.measurements)
        if wire_order is None:
            wire_order = circuit.wires
    else:
        ops = list(circuit)
        if wire_order is None:
            wire_order = qml.wires.Wires.all_wires(
                [op.wires for op in ops] + [m.wires for m in measurements]
            )
    rdtype, device = _default_dtype_device(ops, dtype, device)
    with outside_inference_mode(), qml.QueuingManager.stop_recording():
        if cache is not None:
            plan = cache.get(ops, measurements, list(wire_order), rdtype, device)
        else:
            plan = CircuitPlan(ops, measurements, list(wire_order), rdtype, device)
        return run_plan(plan, ops, fuse=fuse)

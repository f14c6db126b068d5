"""``qclf.TorchLayer``: a drop-in for ``qml.qnn.TorchLayer`` with a batched torch engine."""

from __future__ import annotations

import logging
import os

import pennylane as qml
import torch
from torch.overrides import TorchFunctionMode

from .engine import MemoryLimitExceeded, PlanCache, StrictModeError, UnsupportedCircuit, run_plan
from .engine.bind import DirectBinding
from .engine.plan import structure_key
from .engine.run import outside_inference_mode

__all__ = ["TorchLayer", "SUPPORTED_DEVICES", "strict_default", "use_compile"]

logger = logging.getLogger("qclf.quantum")

#: devices whose analytic (shots=None) semantics are exact state-vector simulation
SUPPORTED_DEVICES = frozenset(
    {"default.qubit", "lightning.qubit", "lightning.gpu", "lightning.kokkos"}
)


def strict_default() -> bool:
    """Strict mode from the environment: ``QCLF_STRICT=1`` (or true/yes/on)."""
    return os.environ.get("QCLF_STRICT", "").strip().lower() in ("1", "true", "yes", "on")


class _ValueReads(TorchFunctionMode):
    """Notes whether a tensor's value is read into Python (``bool``, ``item``, ``float``,
    ...) while a quantum function is recorded: such a function may build a different circuit
    for other values, so its calls are recorded every time."""

    READS = frozenset({torch.Tensor.__bool__, torch.Tensor.item, torch.Tensor.__float__,
                       torch.Tensor.__int__, torch.Tensor.__index__, torch.Tensor.tolist,
                       torch.Tensor.numpy, torch.Tensor.__array__})  # fmt: skip

    def __init__(self):
        super().__init__()
        self.seen = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.READS:
            self.seen = True
        return func(*args, **(kwargs or {}))


class TorchLayer(qml.qnn.TorchLayer):
    """Drop-in replacement for :class:`pennylane.qnn.TorchLayer` that runs a compiled plan.

    Construction, weight initialisation, parameter names (``state_dict``), input reshaping
    (any number of leading batch dimensions), output layout and ``repr`` are PennyLane's; only
    the evaluation of the QNode is replaced. The first call records the quantum function with
    the actual tensors and compiles the circuit's structure into a plan
    (:class:`qclf.quantum.engine.CircuitPlan`); later calls record the function again (a few
    top-level operations), find the plan by its structure key in the layer's own bounded
    :attr:`plans` cache and only bind the new tensors. ``layer.plans.clear()`` frees them.
    When every gate parameter is a view of the input or of a weight, and recording the function
    again with other values gives the same circuit without reading any tensor value into Python,
    later calls with inputs of the same shape skip the recording and bind the input and weights
    directly (:class:`qclf.quantum.engine.bind.DirectBinding`). A function that builds its
    circuit from anything else that changes between calls (a global variable, say) needs
    ``record_each_call=True``.

    Circuits the engine cannot handle (non state-vector devices, mid-circuit measurements,
    noise channels, ``sample``/``counts``/``state`` measurements, QNode transforms, ...) run
    through PennyLane; the reason is logged once and kept in :attr:`fallback_reason`. With
    ``strict=True`` (default: ``QCLF_STRICT=1`` in the environment) they raise
    :class:`qclf.quantum.StrictModeError` instead. An unexpected engine error on a circuit
    PennyLane runs is logged as a bug with its traceback, that call is answered by PennyLane
    and the layer stays compiled (strict mode raises it).

    ``compile=True`` runs the small-register program of circuits measured by Pauli-word
    expectations through ``torch.compile`` (:mod:`qclf.quantum.engine.compiled`): 1.1-1.8x
    faster per call at batches up to 256 (``experiments/RESULTS.md``), after 10-40 s of
    compiling for the first and for a second batch size (needs a C++ compiler on CPU). Circuits
    it does not cover, or a compiler that fails, run as usual (said once in the log).

    Attributes:
        compiled (bool): ``True`` while the layer runs on the engine.
        fallback_reason (str | None): why the layer falls back, if it does.
        strict (bool): raise instead of falling back.
        plans (PlanCache): this layer's compiled plans.

    Output dtype: like PennyLane's ``TorchLayer`` the result is cast to the input dtype;
    the simulation runs in complex64 for float32 inputs and complex128 for float64 inputs.
    """

    def __init__(self, qnode, weight_shapes, init_method=None, *, force_fallback=False,
                 strict: bool | None = None, record_each_call: bool = False,
                 compile: bool = False):  # fmt: skip
        super().__init__(qnode, weight_shapes, init_method=init_method)
        self.__dict__["_qclf_record_each_call"] = bool(record_each_call)
        self.__dict__["_qclf_compile"] = bool(compile)
        strict = strict_default() if strict is None else bool(strict)
        reason = "forced by the user" if force_fallback else self._static_check()
        # plain object attributes (not qnode attributes): see TorchLayer.__setattr__
        self.__dict__["_qclf_reason"] = reason
        self.__dict__["_qclf_warned"] = False
        self.__dict__["_qclf_strict"] = strict
        self.__dict__["_qclf_plans"] = PlanCache()
        if strict and reason is not None and not force_fallback:
            raise StrictModeError(self._strict_message(reason))

    # ----------------------------------------------------------------- public state
    @property
    def compiled(self) -> bool:
        return self._qclf_reason is None

    @property
    def fallback_reason(self) -> str | None:
        return self._qclf_reason

    @property
    def strict(self) -> bool:
        return self._qclf_strict

    @property
    def plans(self) -> PlanCache:
        return self._qclf_plans

    # ------------------------------------------------------------------- internals
    def _strict_message(self, reason: str) -> str:
        name = getattr(self.qnode.func, "__name__", "qnode")
        return (f"qclf.TorchLayer({name}) cannot run on the engine in strict mode: {reason} "
                "(pass strict=False / unset QCLF_STRICT to let PennyLane run it)")  # fmt: skip

    def _static_check(self) -> str | None:
        qnode = self.qnode
        dev = qnode.device
        name = getattr(dev, "name", type(dev).__name__)
        if name not in SUPPORTED_DEVICES:
            return f"device {name!r} is not an exact state-vector simulator known to qclf"
        pipeline = getattr(qnode, "_compile_pipeline", None)
        if pipeline is not None and len(pipeline) > 0:
            return "the QNode carries transforms"
        return None

    @property
    def analytic(self) -> bool:
        """True when the layer returns exact expectations (no finite shots, not running on a
        backend: :func:`qclf.backends.on_backend`): equal inputs then give equal outputs, which
        callers may exploit (:class:`qclf.layers.Quanv2d`)."""
        return self._shots() is None and self.__dict__.get("_qclf_backend") is None

    def _shots(self):
        """The QNode's (or its device's) ``Shots`` if finite, else None."""
        qnode = self.qnode
        for shots in (getattr(qnode, "_shots", None), getattr(qnode.device, "shots", None)):
            if shots is not None and getattr(shots, "total_shots", None) is not None:
                return shots
        return None

    def _fall_back(self, reason: str) -> None:
        self.__dict__["_qclf_reason"] = reason
        self._warn()

    def _warn(self) -> None:
        if not self._qclf_warned:
            self.__dict__["_qclf_warned"] = True
            logger.warning(
                "qclf.TorchLayer(%s): executing through PennyLane (not compiled): %s",
                getattr(self.qnode.func, "__name__", "qnode"),
                self._qclf_reason,
            )

    def _evaluate_qnode(self, x):
        if self._qclf_reason is not None:
            self._warn()
            return super()._evaluate_qnode(x)
        try:
            with outside_inference_mode():
                res = self._evaluate_compiled(x)
        except MemoryLimitExceeded:
            raise  # PennyLane would try to allocate the same states
        except UnsupportedCircuit as exc:
            if self.strict:
                raise StrictModeError(self._strict_message(str(exc))) from exc
            self._fall_back(str(exc))
            return super()._evaluate_qnode(x)
        except Exception as exc:
            if self.strict:
                raise
            # if PennyLane fails too, the call itself is invalid (e.g. a bad input shape):
            # its error propagates; else this is an engine bug: logged, this call answered
            # by PennyLane, the layer stays compiled
            res = super()._evaluate_qnode(x)
            logger.error(
                "qclf engine bug (please report): %s: %s on a circuit PennyLane runs; "
                "this call was answered by PennyLane", type(exc).__name__, exc, exc_info=exc,
            )  # fmt: skip
            return res
        return self._postprocess(res, x)

    def _record(self, x, weights=None):
        """The tape and output structure of the quantum function on ``x`` and ``weights``
        (default: the layer's weights cast like ``x``)."""
        weights = self._weight_list(x) if weights is None else weights
        kwargs = {self.input_arg: x, **dict(zip(self.qnode_weights, weights, strict=True))}
        with qml.queuing.AnnotatedQueue() as q:
            qfunc_output = self.qnode.func(**kwargs)
        tape = qml.tape.QuantumScript.from_queue(q)
        leaves, structure = qml.pytrees.flatten(
            qfunc_output, is_leaf=lambda obj: isinstance(obj, qml.measurements.MeasurementProcess)
        )
        if not leaves or not all(
            isinstance(m, qml.measurements.MeasurementProcess) for m in leaves
        ):
            raise UnsupportedCircuit("the quantum function does not return measurements")
        if len(leaves) != len(tape.measurements):
            raise UnsupportedCircuit("returned measurements differ from the recorded ones")
        return tape, structure

    def _evaluate_compiled(self, x):
        shots = self._shots()
        key = (x.dim(), tuple(x.shape[1:]) if x.dim() > 1 else tuple(x.shape), x.dtype,
               x.device)  # fmt: skip
        direct = shots is None and not self._qclf_record_each_call
        fast = self.plans.direct.get(key) if direct else None
        if fast is not None:  # replay without recording the quantum function
            plan, binding, structure, flat = fast
            res = run_plan(plan, None, bound=binding.bind(plan, x, self._weight_list(x)),
                           stacked=flat, compile=self._qclf_compile)  # fmt: skip
            if isinstance(res, torch.Tensor):  # [expval, ...] as one (B, T) tensor
                return res
            return qml.pytrees.unflatten(res, structure)
        # Recording, compiling and the binding check save their tensors for autograd outside
        # any outer saved-tensor hooks (a non-reentrant torch.utils.checkpoint): a call that
        # binds directly does none of it, and a recomputation must save what its call saved.
        with torch.autograd.graph.saved_tensors_hooks(_as_is, _as_is):
            tape, structure = self._record(x)
            dev_wires = self.qnode.device.wires  # a wire outside it fails in plan compilation
            wire_order = list(dev_wires if dev_wires is not None else tape.wires)
            rdtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float64
            ops = tape.operations
            plan = self.plans.get(ops, tape.measurements, wire_order, rdtype, x.device)
            if direct and key not in self.plans.direct:
                self.plans.direct[key] = self._direct_binding(x, plan, tape, structure)
        if shots is None:
            if direct and self.plans.direct[key] is not None:  # found now: as every later call
                return self._evaluate_compiled(x)
            return qml.pytrees.unflatten(run_plan(plan, ops, compile=self._qclf_compile),
                                         structure)  # fmt: skip
        parts = [part.shots for part in shots.shot_vector for _ in range(part.copies)]
        if len(parts) == 1:
            return qml.pytrees.unflatten(run_plan(plan, ops, shots=parts[0]), structure)
        # a shot vector: one result per partition, as PennyLane returns them
        return tuple(qml.pytrees.unflatten(run_plan(plan, ops, shots=n_shots), structure)
                     for n_shots in parts)  # fmt: skip

    def _weight_list(self, x) -> list[torch.Tensor]:
        return [w.to(x) for w in self.qnode_weights.values()]

    def _direct_binding(self, x, plan, tape, structure):
        """``(plan, DirectBinding, structure, flat)`` when every parameter slot of the plan
        is a view of the input or of a weight and the recording does not depend on their
        values (checked by recording again with other values); else None (record every call).
        ``flat``: the function returns a plain list/tuple of measurements."""
        if plan.has_dynamic or plan.reads_ops or plan.device != x.device:
            return None
        weights = self._weight_list(x)
        binding = DirectBinding.find(plan, tape.operations, x, weights)
        if binding is None:
            return None
        with torch.no_grad(), _ValueReads() as reads:
            x2 = x.detach() + 0.2718
            w2 = [w.detach() + 0.3141 for w in weights]
            tape2, structure2 = self._record(x2, w2)
        if reads.seen:  # the function reads tensor values in Python (``if w[0] > 0: ...``)
            return None
        if structure2 != structure or structure_key(
            tape2.operations, tape2.measurements, plan.wire_order, plan.rdtype, plan.device
        ) != structure_key(tape.operations, tape.measurements, plan.wire_order, plan.rdtype,
                           plan.device):  # fmt: skip
            return None
        if DirectBinding.find(plan, tape2.operations, x2, w2) != binding:
            return None
        n_out = len(tape.measurements)
        as_list = qml.pytrees.unflatten(list(range(n_out)), structure)
        flat = isinstance(as_list, list | tuple) and list(as_list) == list(range(n_out))
        return plan, binding, structure, flat

    def _postprocess(self, res, x):
        # identical to pennylane.qnn.TorchLayer._evaluate_qnode after the QNode call
        if isinstance(res, torch.Tensor):
            return res.type(x.dtype)
        if isinstance(res, list) and len(x.shape) > 1 and all(r.dim() == 1 for r in res):
            return torch.stack(res, 1).type(x.dtype)  # = hstack of the (B, 1) reshapes, one op

        def _combine_dimensions(_res):
            if len(x.shape) > 1:
                _res = [torch.reshape(r, (x.shape[0], -1)) for r in _res]
            return torch.hstack(_res).type(x.dtype)

        if isinstance(res, tuple) and len(res) > 1:
            if all(isinstance(r, torch.Tensor) for r in res):
                return tuple(_combine_dimensions([r]) for r in res)  # pragma: no cover
            return tuple(_combine_dimensions(r) for r in res)

        return _combine_dimensions(res)


def _as_is(t: torch.Tensor) -> torch.Tensor:
    return t


def use_compile(module: torch.nn.Module, enabled: bool = True) -> int:
    """Turn ``compile=True`` on (or off) for every :class:`TorchLayer` inside ``module`` (a
    registered model, a layer from :mod:`qclf.layers`, ...), as if each had been built with
    it; returns how many layers it set. Per model, not process-wide: other models keep their
    setting. Plans already compiled by ``torch.compile`` stay cached until
    ``layer.plans.clear()``; turning it off makes the next calls run the fused program."""
    count = 0
    for m in module.modules():
        if isinstance(m, TorchLayer):
            m.__dict__["_qclf_compile"] = bool(enabled)
            count += 1
    return count

"""``qclf.TorchLayer``: a drop-in for ``qml.qnn.TorchLayer`` with a batched torch engine."""

from __future__ import annotations

import logging

import pennylane as qml
import torch

from .simulator import UnsupportedCircuit, simulate

__all__ = ["TorchLayer", "SUPPORTED_DEVICES"]

logger = logging.getLogger("qclf.quantum")

#: devices whose analytic (shots=None) semantics are exact state-vector simulation
SUPPORTED_DEVICES = frozenset(
    {"default.qubit", "lightning.qubit", "lightning.gpu", "lightning.kokkos"}
)


class TorchLayer(qml.qnn.TorchLayer):
    """Drop-in replacement for :class:`pennylane.qnn.TorchLayer` that runs a compiled path.

    Construction, weight initialisation, parameter names (``state_dict``), input reshaping
    (any number of leading batch dimensions) and output layout are inherited from
    PennyLane's ``TorchLayer``; only the evaluation of the QNode is replaced. At every
    forward pass the QNode's quantum function is recorded with the actual torch tensors
    (inputs with their batch dimension, weights cast to the input's dtype/device exactly
    as PennyLane does) and simulated by :func:`qclf.quantum.simulate`, a batched torch
    state-vector simulator, so the cost of recording is paid per call, not per sample.

    Circuits the engine cannot handle (finite shots, non state-vector devices, mid-circuit
    measurements, noise channels, ``sample``/``counts``/``state`` measurements, QNode
    transforms, ...) are executed through PennyLane instead; the reason is logged once per
    layer on the ``qclf.quantum`` logger and stored in :attr:`fallback_reason`.

    Attributes:
        compiled (bool): ``True`` while the layer runs on the compiled engine. Set at
            construction from static checks (device, shots, transforms) and updated to
            ``False`` if a forward pass had to fall back.
        fallback_reason (str | None): why the layer falls back, if it does.

    Output dtype: like PennyLane's ``TorchLayer`` the result is cast to the input dtype;
    the simulation runs in complex64 for float32 inputs and complex128 for float64 inputs.
    """

    def __init__(self, qnode, weight_shapes, init_method=None, *, force_fallback=False):
        super().__init__(qnode, weight_shapes, init_method=init_method)
        reason = "forced by the user" if force_fallback else self._static_check()
        # plain object attributes (not qnode attributes): see TorchLayer.__setattr__
        self.__dict__["_qclf_reason"] = reason
        self.__dict__["_qclf_warned"] = False

    # ----------------------------------------------------------------- public state
    @property
    def compiled(self) -> bool:
        return self._qclf_reason is None

    @property
    def fallback_reason(self) -> str | None:
        return self._qclf_reason

    # ------------------------------------------------------------------- internals
    def _static_check(self) -> str | None:
        qnode = self.qnode
        dev = qnode.device
        name = getattr(dev, "name", type(dev).__name__)
        if name not in SUPPORTED_DEVICES:
            return f"device {name!r} is not an exact state-vector simulator known to qclf"
        shots = getattr(qnode, "_shots", None) or getattr(dev, "shots", None)
        if shots is not None and getattr(shots, "total_shots", None) is not None:
            return f"finite shots ({shots.total_shots}) requested"
        pipeline = getattr(qnode, "_compile_pipeline", None)
        if pipeline is not None and len(pipeline) > 0:
            return "the QNode carries transforms"
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
            res = self._evaluate_compiled(x)
        except UnsupportedCircuit as exc:
            self._fall_back(str(exc))
            return super()._evaluate_qnode(x)
        except Exception as exc:  # noqa: BLE001 - never return a wrong or missing result
            # if PennyLane fails too, the call itself is invalid (e.g. a bad input shape):
            # its error propagates and the layer stays compiled
            res = super()._evaluate_qnode(x)
            self._fall_back(f"engine error {type(exc).__name__}: {exc}")
            return res
        return self._postprocess(res, x)

    def _evaluate_compiled(self, x):
        kwargs = {
            self.input_arg: x,
            **{arg: weight.to(x) for arg, weight in self.qnode_weights.items()},
        }
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
        dev_wires = self.qnode.device.wires
        if dev_wires is not None and not set(tape.wires).issubset(set(dev_wires)):
            raise UnsupportedCircuit("circuit uses wires outside the device")
        wire_order = dev_wires if dev_wires is not None else tape.wires
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float64
        results = simulate(
            tape.operations, tape.measurements, wire_order, dtype=dtype, device=x.device
        )
        return qml.pytrees.unflatten(results, structure)

    def _postprocess(self, res, x):
        # identical to pennylane.qnn.TorchLayer._evaluate_qnode after the QNode call
        if isinstance(res, torch.Tensor):
            return res.type(x.dtype)

        def _combine_dimensions(_res):
            if len(x.shape) > 1:
                _res = [torch.reshape(r, (x.shape[0], -1)) for r in _res]
            return torch.hstack(_res).type(x.dtype)

        if isinstance(res, tuple) and len(res) > 1:
            if all(isinstance(r, torch.Tensor) for r in res):
                return tuple(_combine_dimensions([r]) for r in res)  # pragma: no cover
            return tuple(_combine_dimensions(r) for r in res)

        return _combine_dimensions(res)

    def __str__(self):
        mode = "compiled" if self.compiled else "PennyLane fallback"
        return f"<qclf Quantum Torch Layer ({mode}): func={self.qnode.func.__name__}>"

    __repr__ = __str__

"""Quantum execution for torch models: a fast, batched drop-in for ``qml.qnn.TorchLayer``.

Public API:

* :class:`TorchLayer` -- same signature/semantics as ``pennylane.qnn.TorchLayer``; compiles
  the circuit once into a plan and replays it on a batched torch state-vector engine
  (:mod:`qclf.quantum.engine`); falls back to PennyLane (logged once) for anything it cannot
  run, or raises in strict mode. ``layer.compiled`` / ``layer.fallback_reason`` report which.
* :func:`use_compile` -- ``compile=True`` for every :class:`TorchLayer` of a model.
* :func:`simulate` -- batched state-vector simulation of a recorded tape (or ops +
  measurements) with torch tensors; differentiable, CPU/CUDA, float32/float64.
* :class:`UnsupportedCircuit`, :class:`StrictModeError`, :class:`MemoryLimitExceeded`.
"""

from .engine import (
    MemoryLimitExceeded,
    PlanCache,
    StrictModeError,
    UnsupportedCircuit,
    expand_operations,
    simulate,
)
from .torch_layer import SUPPORTED_DEVICES, TorchLayer, use_compile

__all__ = [
    "TorchLayer",
    "simulate",
    "UnsupportedCircuit",
    "StrictModeError",
    "MemoryLimitExceeded",
    "PlanCache",
    "expand_operations",
    "SUPPORTED_DEVICES",
    "use_compile",
]

"""Quantum execution for torch models: a fast, batched drop-in for ``qml.qnn.TorchLayer``.

Public API:

* :class:`TorchLayer` -- same signature/semantics as ``pennylane.qnn.TorchLayer``; runs the
  circuit on a batched torch state-vector engine and falls back to PennyLane (logged once)
  for anything it cannot compile. ``layer.compiled`` / ``layer.fallback_reason`` report which.
* :func:`simulate` -- batched state-vector simulation of a recorded tape (or ops +
  measurements) with torch tensors; differentiable, CPU/CUDA, float32/float64.
* :class:`UnsupportedCircuit` -- raised by :func:`simulate` for circuits it cannot handle.
"""

from .simulator import UnsupportedCircuit, expand_operations, simulate
from .torch_layer import SUPPORTED_DEVICES, TorchLayer

__all__ = [
    "TorchLayer",
    "simulate",
    "UnsupportedCircuit",
    "expand_operations",
    "SUPPORTED_DEVICES",
]

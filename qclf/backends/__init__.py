"""Backends that run qclf's quantum layers: exact engine, PennyLane, Aer, fake and IBM devices.

The interface (stable; extended, never changed):

* :func:`get_backend` ``(name, shots=None, noise=None, seed=None, **options) -> Backend``
* :class:`Backend`: ``name``, ``shots``, ``noise``, ``seed``, ``num_qubits`` (``None`` =
  unlimited), ``stats``; ``estimate(batches) -> [Estimate]`` runs a list of
  :class:`CircuitBatch` (template + ``(B, P)`` values + Pauli observables, or
  ``probs_qubits``) as one job, one PUB per batch; ``estimate_tapes(tapes)`` takes PennyLane
  tapes (broadcast tapes carry their batch); ``reseed(seed)`` restarts per-job seeds.
* :class:`Estimate`: ``values`` and ``stderr``, ``(B, M)`` each.
* :func:`on_backend` ``(model, backend)``: a context manager in which a model's quantum layers
  run on ``backend`` (classical parts in torch).
* :func:`batch_from_tape`: a recorded PennyLane tape -> :class:`CircuitBatch` (templates are
  cached by structure, so each circuit shape becomes ONE Qiskit circuit with Parameters,
  transpiled once per target).
"""

from qclf.backends.base import Backend, RunStats
from qclf.backends.errors import (
    BackendError,
    CircuitTooWideError,
    CredentialsError,
    MissingExtraError,
    UnsupportedLayerError,
)
from qclf.backends.fake import fake_backend, fake_backend_names
from qclf.backends.model import on_backend
from qclf.backends.registry import BACKEND_KINDS, get_backend
from qclf.backends.template import CircuitBatch, Estimate, Template, batch_from_tape

__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "BackendError",
    "CircuitBatch",
    "CircuitTooWideError",
    "CredentialsError",
    "Estimate",
    "MissingExtraError",
    "RunStats",
    "Template",
    "UnsupportedLayerError",
    "batch_from_tape",
    "fake_backend",
    "fake_backend_names",
    "get_backend",
    "on_backend",
]

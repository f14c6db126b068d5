"""Backends that stand in for a real one while a model runs: record its calls, or replay results.

A model's forward on a backend is a sequence of ``estimate`` calls. :class:`RecordingBackend`
captures them (returning zeros) without running anything: that is how ``submit`` knows every
job before it waits on any, and how ``--dry-run`` counts them. :class:`ReplayBackend` answers
the same calls from results collected later, checking that each call is the one recorded.
"""

from __future__ import annotations

import hashlib

import numpy as np

from qclf.backends.base import Backend
from qclf.backends.errors import BackendError
from qclf.backends.template import CircuitBatch, Estimate


def output_width(batch: CircuitBatch) -> int:
    if batch.observables is None:
        return 1 << len(batch.probs_qubits)
    return len(batch.observables)


def call_hash(batches: list[CircuitBatch]) -> str:
    """A fingerprint of one call's circuits, bindings and observables."""
    h = hashlib.sha1()
    for b in batches:
        h.update(repr((b.template.key, b.observables, b.probs_qubits)).encode())
        h.update(np.round(b.values, 9).tobytes())
    return h.hexdigest()


class RecordingBackend(Backend):
    """Records each ``estimate`` call's batches; answers zeros of the right shape."""

    def __init__(self, like: Backend) -> None:
        super().__init__()
        self.name, self.shots, self.noise = like.name, like.shots, like.noise
        self.num_qubits = like.num_qubits
        self.calls: list[list[CircuitBatch]] = []

    def _run(self, batches: list[CircuitBatch]) -> list[Estimate]:
        self.calls.append(batches)
        return [Estimate(np.zeros((b.size, output_width(b))), np.zeros((b.size, output_width(b))))
                for b in batches]


class ReplayBackend(Backend):
    """Answers ``estimate`` calls with given results, in order, checking each call's hash."""

    def __init__(self, results: list[list[Estimate]], hashes: list[str]) -> None:
        super().__init__()
        self.results, self.hashes = results, hashes
        self.position = 0

    def _run(self, batches: list[CircuitBatch]) -> list[Estimate]:
        k = self.position
        if k >= len(self.results) or call_hash(batches) != self.hashes[k]:
            raise BackendError(
                "the model's quantum calls differ from those submitted (a quantum layer whose "
                "input depends on another's measured output?): evaluate it with 'qclf evaluate' "
                "instead of 'qclf submit'")
        self.position += 1
        return self.results[k]

"""Exact backends: qclf's torch engine (``exact``) and PennyLane itself (``default.qubit``)."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import torch

from qclf.backends.base import Backend
from qclf.backends.template import CircuitBatch, Estimate, PauliSum


def pennylane_observable(obs: PauliSum) -> qml.operation.Operator:
    """A qubit-order Pauli sum as a PennyLane observable on wires ``0..n-1``."""
    terms = []
    for coeff, word in obs:
        pw = qml.pauli.PauliWord({i: c for i, c in enumerate(word) if c != "I"})
        terms.append(qml.pauli.PauliSentence({pw: coeff}))
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total.operation(wire_order=range(len(obs[0][1])))


def measurements(batch: CircuitBatch) -> list:
    if batch.observables is None:
        return [qml.probs(wires=list(batch.probs_qubits))]
    return [qml.expval(pennylane_observable(o)) for o in batch.observables]


class ExactBackend(Backend):
    """qclf's batched torch state-vector engine (what training uses): exact, float64."""

    name = "exact"

    def _run(self, batches: list[CircuitBatch]) -> list[Estimate]:
        from qclf.quantum import simulate

        out = []
        for b in batches:
            values = torch.as_tensor(b.values, dtype=torch.float64)
            ops = b.template.pennylane_ops(values)
            res = simulate(ops, measurements(b), list(range(b.template.num_qubits)),
                           dtype=torch.float64)
            arr = _stack(res, b.size, b.observables is None)
            out.append(Estimate(arr, np.zeros_like(arr)))
        return out


class PennyLaneBackend(Backend):
    """PennyLane's ``default.qubit`` (exact), for cross-checks of the engine and conversions."""

    name = "default.qubit"

    def _run(self, batches: list[CircuitBatch]) -> list[Estimate]:
        out = []
        for b in batches:
            ops = b.template.pennylane_ops(b.values)
            tape = qml.tape.QuantumScript(ops, measurements(b))
            dev = qml.device("default.qubit", wires=b.template.num_qubits)
            res = qml.execute([tape], dev)[0]
            arr = _stack(res if isinstance(res, tuple | list) else [res], b.size,
                         b.observables is None)
            out.append(Estimate(arr, np.zeros_like(arr)))
        return out


def _stack(res, size: int, probs: bool) -> np.ndarray:
    """Per-measurement results -> ``(B, M)`` (or ``(B, 2**k)`` for one probs measurement);
    a template without angles gives unbatched results, broadcast to the B bindings."""
    cols = [np.asarray(r.detach().cpu() if hasattr(r, "detach") else r, dtype=np.float64)
            for r in res]
    if probs:
        p = cols[0]
        return np.broadcast_to(p.reshape(-1, p.shape[-1]), (size, p.shape[-1])).copy()
    return np.stack([np.broadcast_to(c.reshape(-1), (size,)) for c in cols], axis=1)

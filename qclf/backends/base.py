"""The one backend interface: ``estimate`` (Pauli expectations + standard errors) in arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pennylane as qml

from qclf.backends.errors import CircuitTooWideError
from qclf.backends.template import CircuitBatch, Estimate, batch_from_tape


@dataclass
class RunStats:
    """What a backend has run: bindings (circuits), PUBs, jobs and total shots."""

    circuits: int = 0
    pubs: int = 0
    jobs: int = 0
    shots: int = 0
    job_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"circuits": self.circuits, "pubs": self.pubs, "jobs": self.jobs,
                "total_shots": self.shots, "job_ids": list(self.job_ids)}


class Backend:
    """Runs :class:`CircuitBatch` es; subclasses implement :meth:`_run`.

    Attributes: ``name`` (as given to :func:`get_backend`), ``shots`` (``None`` = exact
    expectations), ``noise`` (fake-backend name or ``None``), ``seed``, ``num_qubits``
    (``None`` = unlimited), ``stats`` (:class:`RunStats`, cumulative).

    :meth:`estimate` takes a list of batches and runs them as ONE job (one PUB per batch) and
    returns one :class:`Estimate` per batch; :meth:`estimate_tapes` takes PennyLane tapes.
    """

    name: str = ""
    shots: int | None = None
    noise: str | None = None
    seed: int | None = None
    num_qubits: int | None = None

    def __init__(self) -> None:
        self.stats = RunStats()

    # ---------------------------------------------------------------- public API
    def estimate(self, batches: Sequence[CircuitBatch]) -> list[Estimate]:
        """Expectation values (or probabilities) and standard errors, one job for all."""
        batches = list(batches)
        if not batches:
            return []
        for b in batches:
            self.check_width(b.template.num_qubits)
        out = self._run(batches)
        self.stats.circuits += sum(b.size for b in batches)
        self.stats.pubs += len(batches)
        self.stats.jobs += 1
        if self.shots:
            self.stats.shots += self.shots * sum(b.size for b in batches)
        return out

    def estimate_tapes(self, tapes: Sequence[qml.tape.QuantumScript]) -> list[Estimate]:
        """Run PennyLane tapes (broadcast tapes are one batch each) as one job."""
        return self.estimate([batch_from_tape(t) for t in tapes])

    def reseed(self, seed: int | None) -> None:
        """Restart the per-job seed sequence (shot backends derive each job's seed from it)."""
        self.seed = seed

    def check_width(self, n: int) -> None:
        if self.num_qubits is not None and n > self.num_qubits:
            raise CircuitTooWideError(
                f"the circuit has {n} qubits but backend {self.name} has {self.num_qubits}: "
                "choose a larger backend or cut the circuit (qclf circuit cutting, WireCut)")

    def describe(self) -> dict[str, Any]:
        """Name, shots, noise, seed and qubit count (for result files and manifests)."""
        return {"backend": self.name, "shots": self.shots, "noise": self.noise,
                "seed": self.seed, "num_qubits": self.num_qubits}

    # ---------------------------------------------------------------- subclasses
    def _run(self, batches: list[CircuitBatch]) -> list[Estimate]:
        raise NotImplementedError


def probs_stderr(p: np.ndarray, shots: int | None) -> np.ndarray:
    """Binomial standard error of estimated probabilities (0 for exact ones)."""
    if not shots:
        return np.zeros_like(p)
    return np.sqrt(np.clip(p * (1 - p), 0, None) / shots)

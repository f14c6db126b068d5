"""``fake:<name>`` and ``ibm:<name>``: the hardware path through qiskit-ibm-runtime.

Circuits are transpiled once per template to the device's ISA with a preset pass manager,
observables get the layout, and a chunk of batches is ONE ``EstimatorV2`` job (one PUB per
batch, all bindings as a parameter array, observables as a ``(1, M)`` array) in a ``Batch``.
``fake:`` runs the same code locally on a qiskit-ibm-runtime fake backend (its noise model);
``ibm:`` needs credentials: ``QISKIT_IBM_TOKEN`` (and optionally ``QISKIT_IBM_INSTANCE``,
``QISKIT_IBM_CHANNEL``) in the environment, or an account saved with
``QiskitRuntimeService.save_account``. The token is passed to the service in memory only: it is
never written to a file, a manifest or a log by qclf.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from qclf.backends.base import Backend
from qclf.backends.errors import BackendError, CredentialsError, require
from qclf.backends.fake import fake_backend
from qclf.backends.qiskit_common import observable_array, preset_pass_manager
from qclf.backends.template import CircuitBatch, Estimate, as_expectations

logger = logging.getLogger("qclf.backends")

#: error-mitigation options exposed to users and recorded in manifests
MITIGATION_DEFAULTS: dict[str, Any] = {
    "resilience_level": None, "dynamical_decoupling": False, "twirling": False,
}


def ibm_service(channel: str | None = None) -> Any:
    """A ``QiskitRuntimeService`` from the environment or the saved account."""
    rt = require("qiskit_ibm_runtime", "ibm", "IBM Quantum backends")
    token = os.environ.get("QISKIT_IBM_TOKEN")
    kw: dict[str, Any] = {}
    if token:
        kw["token"] = token
        kw["channel"] = channel or os.environ.get("QISKIT_IBM_CHANNEL", "ibm_quantum_platform")
        if os.environ.get("QISKIT_IBM_INSTANCE"):
            kw["instance"] = os.environ["QISKIT_IBM_INSTANCE"]
    try:
        return rt.QiskitRuntimeService(**kw)
    except Exception as exc:  # noqa: BLE001 - the runtime raises many types; never echo a token
        how = ("check QISKIT_IBM_TOKEN / QISKIT_IBM_INSTANCE" if token else
               "set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE) in the environment or save an "
               "account with QiskitRuntimeService.save_account(...)")
        raise CredentialsError(
            f"no usable IBM Quantum credentials ({type(exc).__name__}): {how}") from None


class RuntimeBackend(Backend):
    """A qiskit-ibm-runtime backend (fake or real); see the module docstring.

    ``resilience_level`` (0-2), ``dynamical_decoupling`` and ``twirling`` are passed to the
    Estimator's options (they act on real devices; local fake runs ignore them).
    """

    def __init__(self, name: str, shots: int | None = 1024, seed: int | None = None,
                 optimization_level: int = 1, **mitigation: Any) -> None:
        super().__init__()
        unknown = set(mitigation) - set(MITIGATION_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown backend option(s) {sorted(unknown)}; known: "
                             f"{sorted(MITIGATION_DEFAULTS)}")
        self.mitigation = {**MITIGATION_DEFAULTS, **mitigation}
        kind, _, device = name.partition(":")
        if kind == "fake":
            self.device = fake_backend(device)
            self.local = True
        else:
            service = ibm_service()
            try:
                self.device = service.backend(device)
            except Exception as exc:  # noqa: BLE001
                raise BackendError(f"IBM backend {device!r} is not available to this account "
                                   f"({type(exc).__name__}: {exc})") from None
            self.local = False
        self.name = f"{kind}:{self.device.name}"
        self.shots = shots or 1024
        self.seed = seed
        self.num_qubits = int(self.device.num_qubits)
        self.target_key = f"{self.name}:{optimization_level}"
        self.options = {"optimization_level": optimization_level, **self.mitigation}
        self.pass_manager = preset_pass_manager(self.device, optimization_level, seed)
        self._batch = None
        self._calls = 0
        self._seed = seed

    def reseed(self, seed: int | None) -> None:
        self._seed, self._calls = seed, 0

    # ----------------------------------------------------------- pubs and jobs
    def isa(self, template) -> Any:
        key = ("isa-est", self.target_key)
        if key not in template.cache:
            template.cache[key] = self.pass_manager.run(template.qiskit_circuit())
        return template.cache[key]

    def pubs(self, batches: list[CircuitBatch]) -> list[tuple]:

        out = []
        for b in map(as_expectations, batches):
            isa = self.isa(b.template)
            out.append((isa, observable_array(b.observables, isa.layout), b.values[:, None, :]))
        return out

    def _estimator(self, seed: int | None = None) -> Any:
        rt = require("qiskit_ibm_runtime", "ibm", "IBM Quantum backends")
        if self._batch is None:
            try:
                self._batch = rt.Batch(backend=self.device)
            except Exception as exc:  # noqa: BLE001 - e.g. the Open Plan allows job mode only
                logger.warning("%s: Batch mode unavailable (%s); submitting jobs one by one",
                               self.name, type(exc).__name__)
                self._batch = self.device
        est = rt.EstimatorV2(mode=self._batch)
        est.options.default_shots = self.shots
        m = self.mitigation
        if not self.local:
            if m["resilience_level"] is not None:
                est.options.resilience_level = int(m["resilience_level"])
            est.options.dynamical_decoupling.enable = bool(m["dynamical_decoupling"])
            est.options.twirling.enable_gates = bool(m["twirling"])
        else:
            self._calls += 1
            if seed is None and self._seed is not None:
                seed = int(np.random.SeedSequence([self._seed, self._calls]).generate_state(1)[0])
            if seed is not None:
                est.options.simulator.seed_simulator = int(seed)
        return est

    def submit(self, batches: list[CircuitBatch], seed: int | None = None) -> Any:
        """Submit one job for ``batches`` (non-blocking); returns the runtime job. ``seed``
        seeds a local (fake) simulation; by default it follows :meth:`reseed`'s sequence."""
        for b in batches:
            self.check_width(b.template.num_qubits)
        job = self._estimator(seed).run(self.pubs(batches))
        self.stats.jobs += 1
        self.stats.pubs += len(batches)
        self.stats.circuits += sum(b.size for b in batches)
        self.stats.shots += self.shots * sum(b.size for b in batches)
        self.stats.job_ids.append(job.job_id())
        return job

    def job(self, job_id: str) -> Any:
        """A job kept by the IBM service (``None`` for local fake jobs, which are not kept)."""
        if self.local:
            return None
        return ibm_service().job(job_id)

    @staticmethod
    def collect(job: Any) -> list[Estimate]:
        """Wait for ``job`` and return one :class:`Estimate` per PUB (raises on failure)."""
        try:
            result = job.result()
        except Exception as exc:  # noqa: BLE001
            raise BackendError(f"job {job.job_id()} failed on the server: {exc}") from None
        return [Estimate(np.asarray(r.data.evs, dtype=np.float64),
                         np.asarray(r.data.stds, dtype=np.float64)) for r in result]

    def estimate(self, batches):  # noqa: ANN001 - one job per call, counted by submit
        batches = list(batches)
        return self.collect(self.submit(batches)) if batches else []

    def close(self) -> None:
        if self._batch is not None and not self.local and hasattr(self._batch, "close"):
            self._batch.close()
        self._batch = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "target": self.target_key, "options": self.options}

"""``aer``: Qiskit Aer through the V2 primitives, with shots and optional device noise.

With ``shots=N`` every batch is sampled (one circuit per measurement basis carrying all bindings
as a parameter array) and Pauli expectations are estimated from the outcomes, so shot noise has
the right variance ``(1 - <P>^2) / N`` (Aer's ``EstimatorV2`` would add Gaussian noise of a fixed
width instead). Without noise the outcomes are ``N`` multinomial draws from Aer's exact
distribution of each binding (what measuring N times does); with noise each shot is simulated
by Aer's ``SamplerV2`` (one PUB per basis), so gate and readout errors act shot by shot.
``shots=None`` gives exact expectations from Aer's ``EstimatorV2`` at precision 0 (with noise:
gate errors only; readout errors act on measured shots).
``noise="fake_manila"`` takes the noise model, coupling map and basis gates of that fake
backend; circuits are transpiled once per template for that target with a preset pass manager.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qclf.backends.base import Backend
from qclf.backends.errors import require
from qclf.backends.fake import fake_backend
from qclf.backends.qiskit_common import (
    estimate_from_histograms,
    estimates_from_samples,
    observable_array,
    packed_samples,
    preset_pass_manager,
    probabilities_circuit,
    sampler_pubs,
)
from qclf.backends.sampling import basis_groups
from qclf.backends.template import CircuitBatch, Estimate, as_expectations

#: the ideal simulator's transpile basis. Controlled rotations (crx, cry, crz, cp) are left out on
#: purpose: Aer 0.17.2 binds parameter arrays into them wrongly (a CRX(0.9) runs as if its angle
#: were 0; checked against qiskit's Statevector), so they are decomposed into cx + rotations.
IDEAL_BASIS = ["u", "p", "rx", "ry", "rz", "h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx",
               "sxdg", "cx", "cz", "cy", "swap", "rxx", "ryy", "rzz", "ccx", "cswap"]


class AerBackend(Backend):
    """See the module docstring. ``optimization_level`` is the preset pass manager's level;
    ``threads`` caps Aer's OpenMP threads (default 1: on a shared or small machine Aer's
    default, all cores for every binding, ran a 1,000-binding PUB 9x slower here)."""

    def __init__(self, shots: int | None = None, noise: str | None = None,
                 seed: int | None = None, optimization_level: int = 1, threads: int = 1
                 ) -> None:
        super().__init__()
        aer = require("qiskit_aer", "aer", "the aer backend")
        self.shots, self.noise, self.seed = shots, noise, seed
        self.name = "aer"
        if noise:
            device = fake_backend(noise)
            self.simulator = aer.AerSimulator.from_backend(device, seed_simulator=seed)
            self.num_qubits = device.num_qubits
        else:
            self.simulator = aer.AerSimulator(seed_simulator=seed)
            self.num_qubits = None
        self.simulator.set_options(max_parallel_threads=threads, max_parallel_experiments=1)
        self.options = {"optimization_level": optimization_level, "threads": threads}
        self.target_key = f"aer:{noise or 'ideal'}:{optimization_level}"
        if noise:
            self.pass_manager = preset_pass_manager(self.simulator, optimization_level, seed)
        else:
            from qiskit.transpiler import generate_preset_pass_manager

            self.pass_manager = generate_preset_pass_manager(
                optimization_level=optimization_level, basis_gates=IDEAL_BASIS,
                seed_transpiler=seed)
        self._seed = seed
        self._calls = 0

    def reseed(self, seed: int | None) -> None:
        """Restart the seed sequence (each job's seed is derived from it and a call counter)."""
        self._seed, self._calls = seed, 0

    def _job_seed(self) -> int | None:
        self._calls += 1
        if self._seed is None:
            return None
        return int(np.random.SeedSequence([self._seed, self._calls]).generate_state(1)[0])

    def _run(self, batches: list[CircuitBatch]) -> list[Estimate]:
        if self.shots is None:
            return self._exact(batches)
        if not self.noise:
            return self._sample_ideal(batches)
        from qiskit_aer.primitives import SamplerV2

        sampler = SamplerV2.from_backend(self.simulator, default_shots=self.shots,
                                         seed=self._job_seed())
        pubs, plan = sampler_pubs(batches, self.target_key, self.pass_manager)
        result = sampler.run(pubs).result()
        samples = [packed_samples(r) for r in result]
        return estimates_from_samples(batches, plan, samples, self.shots)

    def _sample_ideal(self, batches: list[CircuitBatch]) -> list[Estimate]:
        """Noise-free shots: Aer's exact outcome distribution per binding (``save_probabilities``
        on the transpiled circuit, all bindings in one run), then ``shots`` multinomial draws
        per binding: the same statistics as Aer's terminal measure sampling, without per-shot
        records (Aer's SamplerV2 returns every shot through Python)."""
        rng = np.random.default_rng(self._job_seed())
        circuits, binds, plan = [], [], []
        for b in batches:
            bases = ([None] if b.observables is None
                     else basis_groups(b.observables, b.template.num_qubits))
            plan.append(bases)
            for basis in bases:
                qc = probabilities_circuit(b.template, basis, self.target_key, self.pass_manager)
                circuits.append(qc)
                params = sorted(qc.parameters, key=lambda p: p.index)
                binds.append({p: b.values[:, p.index].tolist() for p in params})
        result = self.simulator.run(circuits, parameter_binds=binds, shots=1).result()
        out, k = [], 0
        for b, bases in zip(batches, plan, strict=True):
            hists = []
            for _ in bases:
                probs = np.array([result.data(k + i)["probabilities"] for i in range(b.size)])
                k += b.size
                probs = np.clip(probs, 0, None)
                hists.append(rng.multinomial(self.shots, probs / probs.sum(1, keepdims=True))
                             .astype(np.float64))
            out.append(estimate_from_histograms(b, bases, hists, self.shots))
        return out

    def _exact(self, batches: list[CircuitBatch]) -> list[Estimate]:
        from qiskit_aer.primitives import EstimatorV2

        batches = [as_expectations(b) for b in batches]
        est = EstimatorV2.from_backend(self.simulator, options={"default_precision": 0.0})
        pubs = []
        for b in batches:
            isa = b.template.cache.get(("isa-est", self.target_key))
            if isa is None:
                isa = self.pass_manager.run(b.template.qiskit_circuit())
                b.template.cache[("isa-est", self.target_key)] = isa
            pubs.append((isa, observable_array(b.observables, isa.layout),
                         b.values[:, None, :]))
        out = []
        for r in est.run(pubs).result():
            evs = np.asarray(r.data.evs, dtype=np.float64)
            out.append(Estimate(evs, np.zeros_like(evs)))
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "target": self.target_key, "options": self.options}

"""Shared Qiskit plumbing: measured circuits per basis, transpile-once cache, sampler PUBs."""

from __future__ import annotations

from typing import Any

import numpy as np

from qclf.backends.errors import require
from qclf.backends.sampling import (
    basis_groups,
    expectations_from_counts,
    histogram,
    histogram_probabilities,
)
from qclf.backends.template import CircuitBatch, Estimate, Template, pauli_label


def measured_circuit(template: Template, basis: str | None):
    """The template with a basis change (``None``: Z on all) and ``measure_all`` (cached)."""
    key = ("measured", basis)
    if key not in template.cache:
        qc = template.qiskit_circuit().copy()
        for q, c in enumerate(basis or ""):
            if c == "X":
                qc.h(q)
            elif c == "Y":
                qc.sdg(q)
                qc.h(q)
        qc.measure_all()
        template.cache[key] = qc
    return template.cache[key]


def transpiled(template: Template, basis: str | None, target_key: str, pass_manager) -> Any:
    """``measured_circuit`` transpiled by ``pass_manager`` once per (template, basis, target)."""
    key = ("isa", basis, target_key)
    if key not in template.cache:
        template.cache[key] = pass_manager.run(measured_circuit(template, basis))
    return template.cache[key]


def preset_pass_manager(backend: Any, optimization_level: int = 1, seed: int | None = None):
    transpiler = require("qiskit.transpiler", "aer", "transpiling for a backend")
    del transpiler
    from qiskit.transpiler import generate_preset_pass_manager

    return generate_preset_pass_manager(optimization_level=optimization_level, backend=backend,
                                        seed_transpiler=seed)


def sampler_pubs(batches: list[CircuitBatch], target_key: str, pass_manager
                 ) -> tuple[list[tuple], list[list[str | None]]]:
    """One sampler PUB per (batch, measurement basis): ``(isa_circuit, values)``."""
    pubs, plan = [], []
    for b in batches:
        bases: list[str | None] = (
            [None] if b.observables is None
            else basis_groups(b.observables, b.template.num_qubits))
        plan.append(bases)
        for basis in bases:
            pubs.append((transpiled(b.template, basis, target_key, pass_manager), b.values))
    return pubs, plan


def packed_samples(pub_result) -> np.ndarray:
    """``(B, shots, bytes)`` packed bits of a sampler PUB result's only register."""
    data = pub_result.data
    reg = next(iter(data.values())) if hasattr(data, "values") else data.meas
    arr = np.asarray(reg.array)
    return arr.reshape(-1, *arr.shape[-2:])


def estimates_from_samples(batches: list[CircuitBatch], plan: list[list[str | None]],
                           samples: list[np.ndarray], shots: int) -> list[Estimate]:
    """Turn per-PUB packed samples back into one :class:`Estimate` per batch."""
    out, i = [], 0
    for b, bases in zip(batches, plan, strict=True):
        hists = [histogram(s, b.template.num_qubits) for s in samples[i:i + len(bases)]]
        i += len(bases)
        out.append(estimate_from_histograms(b, bases, hists, shots))
    return out


def estimate_from_histograms(batch: CircuitBatch, bases: list[str | None],
                             hists: list[np.ndarray], shots: int) -> Estimate:
    """One batch's :class:`Estimate` from its outcome counts, one ``(B, 2**n)`` per basis."""
    if batch.observables is None:
        p = histogram_probabilities(hists[0], batch.probs_qubits)
        return Estimate(p, np.sqrt(np.clip(p * (1 - p), 0, None) / shots))
    return Estimate(*expectations_from_counts(batch.observables, bases, hists))


def observable_array(observables, layout) -> np.ndarray:
    """Pauli sums as a ``(1, M)`` object array of ``SparsePauliOp`` with ``layout`` applied."""
    from qiskit.quantum_info import SparsePauliOp

    arr = np.empty((1, len(observables)), dtype=object)
    for m, obs in enumerate(observables):
        op = SparsePauliOp.from_list([(pauli_label(w), c) for c, w in obs])
        arr[0, m] = op.apply_layout(layout) if layout is not None else op
    return arr


def probabilities_circuit(template: Template, basis: str | None, target_key: str, pass_manager):
    """The template, a basis change and Aer's ``save_probabilities`` on all its qubits,
    transpiled once per (template, basis, target); outcome bit q is template qubit q."""
    key = ("probs", basis, target_key)
    if key not in template.cache:
        rotated = measured_circuit(template, basis).remove_final_measurements(inplace=False)
        isa = pass_manager.run(rotated)
        layout = isa.layout.final_index_layout() if isa.layout is not None else None
        isa.save_probabilities(layout or list(range(template.num_qubits)))
        template.cache[key] = isa
    return template.cache[key]

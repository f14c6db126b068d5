"""A parametrised circuit, recorded once from PennyLane, that any backend can run in arrays.

A :class:`Template` is the gate sequence of a recorded PennyLane circuit with every gate angle
replaced by a slot ``theta[k]``; a :class:`CircuitBatch` is a template plus a ``(B, P)`` array
of slot values (one row per binding: image, patch, ...) and the Pauli observables to measure.
The template is built from the *same* tape the torch engine runs (no second definition of a
circuit), keyed by its structure, so a layer called again with new inputs reuses it: on Qiskit
backends it becomes one ``QuantumCircuit`` with ``Parameter`` s, transpiled once per target,
and each batch is one PUB whose parameter array carries all B bindings.

Observables are Pauli sums written in *qubit order* (character ``i`` acts on template qubit
``i``, i.e. the i-th wire of the recorded circuit's wire order): ``((1.0, "ZI"), (0.5, "XX"))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pennylane as qml

from qclf.backends.errors import UnsupportedLayerError

#: PennyLane gate name -> (Qiskit method name, number of angles); everything else is decomposed
GATES: dict[str, tuple[str, int]] = {
    "Hadamard": ("h", 0), "PauliX": ("x", 0), "PauliY": ("y", 0), "PauliZ": ("z", 0),
    "S": ("s", 0), "T": ("t", 0), "SX": ("sx", 0), "Adjoint(S)": ("sdg", 0),
    "Adjoint(T)": ("tdg", 0), "Adjoint(SX)": ("sxdg", 0),
    "RX": ("rx", 1), "RY": ("ry", 1), "RZ": ("rz", 1), "PhaseShift": ("p", 1),
    "U3": ("u", 3),
    "CNOT": ("cx", 0), "CZ": ("cz", 0), "CY": ("cy", 0), "SWAP": ("swap", 0),
    "CRX": ("crx", 1), "CRY": ("cry", 1), "CRZ": ("crz", 1), "ControlledPhaseShift": ("cp", 1),
    "IsingXX": ("rxx", 1), "IsingYY": ("ryy", 1), "IsingZZ": ("rzz", 1),
    "Toffoli": ("ccx", 0), "CSWAP": ("cswap", 0),
}
_SKIP = {"Identity", "GlobalPhase", "Barrier"}

PauliSum = tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class Gate:
    """One gate of a template: PennyLane name, qubit indices, the angle slots it reads."""

    name: str
    qubits: tuple[int, ...]
    slots: tuple[int, ...]


@dataclass(eq=False)
class Template:
    """A parametrised circuit on ``num_qubits`` qubits with ``num_params`` angle slots.

    Built once per circuit structure (see :func:`template_from_tape`); Qiskit backends cache
    their converted/transpiled forms in :attr:`cache` (keyed by target).
    """

    num_qubits: int
    gates: tuple[Gate, ...]
    num_params: int
    key: tuple = ()
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def qiskit_circuit(self):
        """The Qiskit ``QuantumCircuit`` with a ``ParameterVector`` ``theta`` (built once)."""
        if "qiskit" not in self.cache:
            from qclf.backends.errors import require

            qk = require("qiskit", "aer", "a Qiskit backend")
            theta = qk.circuit.ParameterVector("theta", self.num_params)
            qc = qk.QuantumCircuit(self.num_qubits)
            for g in self.gates:
                method, _ = GATES[g.name]
                getattr(qc, method)(*[theta[s] for s in g.slots], *g.qubits)
            self.cache["qiskit"] = qc
        return self.cache["qiskit"]

    def pennylane_ops(self, values: Any) -> list[qml.operation.Operator]:
        """PennyLane operators with slot values ``values`` (``(B, P)`` array or tensor)."""
        ops = []
        for g in self.gates:
            args = [values[:, s] for s in g.slots]
            if g.name.startswith("Adjoint("):
                ops.append(qml.adjoint(getattr(qml, g.name[8:-1])(wires=g.qubits)))
            else:
                ops.append(getattr(qml, g.name)(*args, wires=g.qubits))
        return ops


@dataclass
class CircuitBatch:
    """A template with ``B`` bindings and the observables measured on each: one PUB.

    ``values``: ``(B, num_params)`` slot values. ``observables``: Pauli sums in qubit order
    (``None`` with ``probs_qubits`` set asks for the probabilities of those qubits instead).
    """

    template: Template
    values: np.ndarray
    observables: Sequence[PauliSum] | None = None
    probs_qubits: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim == 1:
            v = v.reshape(1, -1)
        if v.ndim != 2 or v.shape[1] != self.template.num_params:
            raise ValueError(f"values must have shape (B, {self.template.num_params}) for this "
                             f"template, got {v.shape}")
        self.values = v

    @property
    def size(self) -> int:
        return int(self.values.shape[0])


@dataclass
class Estimate:
    """Results of one :class:`CircuitBatch`: ``values`` and ``stderr`` of shape ``(B, M)``
    (``M`` observables or ``2**k`` outcome probabilities); ``stderr`` is 0 for exact backends."""

    values: np.ndarray
    stderr: np.ndarray
    metadata: dict = field(default_factory=dict)


# ------------------------------------------------------------------------ recording
def _expand(op: qml.operation.Operator, depth: int = 0) -> list[qml.operation.Operator]:
    if op.name in GATES or op.name in _SKIP:
        return [op]
    if depth > 12 or not op.has_decomposition:
        raise UnsupportedLayerError(
            f"gate {op.name} has no Qiskit equivalent and no decomposition; a backend cannot "
            "run this circuit (use a catalogue circuit made of standard gates)")
    return [g for sub in op.decomposition() for g in _expand(sub, depth + 1)]


def _as_column(p: Any, batch: int) -> np.ndarray:
    a = p.detach().cpu().numpy() if hasattr(p, "detach") else np.asarray(p)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return np.full(batch, float(a))
    return a.reshape(batch) if a.size == batch else a.reshape(-1)


def pauli_sum(obs: qml.operation.Operator, index: dict[Any, int], n: int) -> PauliSum:
    """A PennyLane observable as a Pauli sum in qubit order, or UnsupportedLayerError."""
    rep = obs.pauli_rep if obs is not None else None
    if rep is None:
        raise UnsupportedLayerError(
            f"observable {obs} is not a sum of Pauli words; backends measure Pauli words only")
    terms = []
    for word, coeff in rep.items():
        chars = ["I"] * n
        for wire, p in word.items():
            chars[index[wire]] = p
        terms.append((float(np.real(coeff)), "".join(chars)))
    return tuple(terms)


_TEMPLATES: dict[tuple, Template] = {}


def batch_from_tape(tape: qml.tape.QuantumScript,
                    wire_order: Sequence[Any] | None = None) -> CircuitBatch:
    """Record a (possibly broadcast) PennyLane tape as a cached template plus a value array.

    Every measurement must be ``expval`` of a Pauli sum, or a single ``probs``.
    """
    wires = list(wire_order) if wire_order is not None else list(tape.wires)
    index = {w: i for i, w in enumerate(wires)}
    n = len(wires)
    batch = tape.batch_size or 1
    gates, cols = [], []
    for op in (g for top in tape.operations for g in _expand(top)):
        if op.name in _SKIP:
            continue
        n_angles = GATES[op.name][1]
        params = op.parameters[:n_angles]
        slots = tuple(range(len(cols), len(cols) + n_angles))
        cols += [_as_column(p, batch) for p in params]
        gates.append(Gate(op.name, tuple(index[w] for w in op.wires), slots))
    key = (n, tuple(gates))
    template = _TEMPLATES.get(key)
    if template is None:
        template = _TEMPLATES[key] = Template(n, tuple(gates), len(cols), key)
    values = np.stack(cols, axis=1) if cols else np.zeros((batch, 0))
    meas = tape.measurements
    if len(meas) == 1 and isinstance(meas[0], qml.measurements.ProbabilityMP):
        return CircuitBatch(template, values, None, tuple(index[w] for w in meas[0].wires))
    observables = []
    for m in meas:
        if not isinstance(m, qml.measurements.ExpectationMP):
            raise UnsupportedLayerError(
                f"measurement {type(m).__name__} is not supported on a backend: use expval of "
                "Pauli words (or one probs)")
        observables.append(pauli_sum(m.obs, index, n))
    return CircuitBatch(template, values, observables)


def pauli_label(word: str) -> str:
    """A qubit-order Pauli word as a Qiskit label (little-endian: qubit 0 is the last char)."""
    return word[::-1]


def projector_observables(qubits: Sequence[int], n: int) -> list[PauliSum]:
    """The outcome probabilities of ``qubits`` as Pauli sums (first qubit most significant):
    ``P(b) = 2^-k sum_S (-1)^(b.S) Z_S`` — lets expectation-only primitives return ``probs``."""
    k = len(qubits)
    out = []
    for b in range(1 << k):
        terms = []
        for subset in range(1 << k):
            chars = ["I"] * n
            sign = 1.0
            for j, q in enumerate(qubits):
                if subset >> (k - 1 - j) & 1:
                    chars[q] = "Z"
                    if b >> (k - 1 - j) & 1:
                        sign = -sign
            terms.append((sign / (1 << k), "".join(chars)))
        out.append(tuple(terms))
    return out


def as_expectations(batch: CircuitBatch) -> CircuitBatch:
    """``batch`` with a ``probs`` request rewritten as projector expectations."""
    if batch.observables is not None:
        return batch
    return CircuitBatch(batch.template, batch.values,
                        projector_observables(batch.probs_qubits, batch.template.num_qubits))

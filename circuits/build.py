"""Build the standard ``(inputs, weights)`` QNode from catalogue names, and export it to QASM.

``build_qnode`` is the one place where an encoding, an ansatz and a measurement named in a config
become a PennyLane QNode; every layer in ``qclf.layers`` calls it and wraps the result in
``qclf.quantum.TorchLayer``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane.devices.preprocess import decompose

from .registry import get_circuit

PAULIS = {"I": qml.Identity, "X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
Measurement = str | Sequence[str]


def _observables(measurement: Measurement, wires: Sequence[int]) -> list[Any] | None:
    """Observables for a measurement config; ``None`` means probabilities."""
    if isinstance(measurement, str):
        if measurement == "probs":
            return None
        if measurement.upper() in ("X", "Y", "Z"):
            return [PAULIS[measurement.upper()](w) for w in wires]
        raise ValueError(
            f"measurement must be 'Z', 'X', 'Y', 'probs' or a list of Pauli words such as "
            f"['ZZ', 'XI'], got {measurement!r}"
        )
    words = list(measurement)
    if not words:
        raise ValueError("measurement: the list of Pauli words is empty")
    observables = []
    for word in words:
        if not isinstance(word, str) or len(word) != len(wires) or set(word.upper()) - set(PAULIS):
            raise ValueError(
                f"measurement: Pauli word {word!r} must be a string of {len(wires)} letters "
                f"from I, X, Y, Z (one per measured qubit {list(wires)})"
            )
        ops = [PAULIS[p](w) for p, w in zip(word.upper(), wires, strict=True) if p != "I"]
        observables.append(qml.prod(*ops) if ops else qml.Identity(wires[0]))
    return observables


def n_outputs(measurement: Measurement, n_measured: int) -> int:
    """Number of values the QNode returns per sample for this measurement config."""
    if isinstance(measurement, str):
        return 2**n_measured if measurement == "probs" else n_measured
    return len(measurement)


def n_inputs(n_qubits: int, encoding: str | None, ansatz: str | None, depth: int = 1) -> int:
    """Number of input features the QNode built with these names takes (at most)."""
    if encoding is None:
        return get_circuit(ansatz, "ansatz").n_weights(n_qubits, depth) if ansatz else 0
    return get_circuit(encoding, "encoding").n_features(n_qubits)


def build_qnode(
    n_qubits: int,
    encoding: str | None = "angle",
    ansatz: str | None = "strongly_entangling",
    depth: int = 1,
    measurement: Measurement = "Z",
    *,
    encoding_kw: dict[str, Any] | None = None,
    ansatz_kw: dict[str, Any] | None = None,
    reupload: bool = False,
    device: Any = None,
    measure_wires: Sequence[int] | None = None,
    weights: Any = None,
    diff_method: str = "best",
) -> tuple[qml.QNode, dict[str, tuple[int, ...]]]:
    """A torch-interface QNode ``circuit(inputs, weights)`` and its ``weight_shapes``.

    Args:
        n_qubits: circuit width; wires are ``0 .. n_qubits - 1``.
        encoding: catalogue encoding name, or ``None`` to feed the inputs as the ansatz's angles
            (S4's circuits, whose angles come from the preceding linear layer): the QNode is then
            ``circuit(inputs)`` with ``inputs`` of shape ``(..., n_weights)``.
        ansatz: catalogue ansatz name, or ``None`` for the encoding alone.
        depth: ansatz depth, passed to its ``shape``.
        measurement: ``"Z"``, ``"X"``, ``"Y"`` (expectation per measured qubit), ``"probs"``
            (all ``2**n`` probabilities of the measured qubits) or a list of Pauli words, one
            letter per measured qubit (``["ZZII", "XIII"]``).
        encoding_kw, ansatz_kw: keyword configuration of the two circuit functions
            (e.g. ``{"rotation": "Y", "scale": math.pi}``).
        reupload: apply the encoding before every ansatz layer (layered ansätze only).
        device: a PennyLane device; default ``default.qubit`` on ``n_qubits`` wires.
        measure_wires: the qubits measured (default all), e.g. a QCNN's readout qubits.
        weights: fixed ansatz weights, or a zero-argument callable returning them: the QNode is
            then ``circuit(inputs)`` (a non-trainable circuit, e.g. Henderson's random filter).
        diff_method: PennyLane differentiation method (``"best"`` is backprop on default.qubit).

    Returns:
        ``(qnode, weight_shapes)`` ready for ``TorchLayer(qnode, weight_shapes)``;
        ``weight_shapes`` is ``{"weights": shape}``, or ``{}`` when the QNode takes inputs only
        (no encoding, fixed weights, or an ansatz without weights). Inputs may carry leading
        batch dimensions (PennyLane parameter broadcasting).
    """
    if not isinstance(n_qubits, int) or n_qubits < 1:
        raise ValueError(f"n_qubits must be a positive int, got {n_qubits!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    wires = list(range(n_qubits))
    enc = get_circuit(encoding, "encoding") if encoding is not None else None
    ans = get_circuit(ansatz, "ansatz") if ansatz is not None else None
    for c in (enc, ans):
        if c is not None:
            c.check_qubits(n_qubits, depth)
    if enc is None and ans is None:
        raise ValueError("build_qnode needs an encoding, an ansatz, or both")
    enc_kw = dict(encoding_kw or {})
    ans_kw = dict(ansatz_kw or {})
    shape = ans.shape(n_qubits, depth) if ans is not None else (0,)
    has_weights = math.prod(shape) > 0

    measured = list(wires if measure_wires is None else measure_wires)
    if not measured or set(measured) - set(wires):
        raise ValueError(f"measure_wires must be a non-empty subset of {wires}, got {measured}")
    observables = _observables(measurement, measured)

    if reupload:
        if enc is None or ans is None:
            raise ValueError("reupload=True needs both an encoding and an ansatz")
        if not ans.layered or shape[0] != depth:
            raise ValueError(
                f"reupload=True needs a layered ansatz (weights (depth, ...)); {ans.name!r} is "
                f"not one"
            )
    if enc is None and weights is not None:
        raise ValueError("fixed weights make no sense without an encoding (the inputs are them)")

    def measure() -> Any:
        if observables is None:
            return qml.probs(wires=measured)
        return [qml.expval(o) for o in observables]

    def body(inputs: Any, w: Any) -> Any:
        if enc is None:
            batch = qml.math.shape(inputs)[:-1]
            ans(qml.math.reshape(inputs, (*batch, *shape)), wires, **ans_kw)
        elif reupload:
            for layer in range(depth):
                enc(inputs, wires, **enc_kw)
                ans(w[layer : layer + 1], wires, **ans_kw)
        else:
            enc(inputs, wires, **enc_kw)
            if ans is not None:
                ans(w, wires, **ans_kw)
        return measure()

    dev = device if device is not None else qml.device("default.qubit", wires=n_qubits)
    qnode_kw = {"interface": "torch", "diff_method": diff_method}

    if enc is not None and has_weights and weights is None:

        def circuit(inputs, weights):  # noqa: ANN001 - TorchLayer reads these names
            return body(inputs, weights)

        return qml.QNode(circuit, dev, **qnode_kw), {"weights": tuple(shape)}

    fixed: Callable[[], Any] | None
    if weights is None:
        fixed = None
    elif callable(weights):
        fixed = weights
    else:
        if tuple(qml.math.shape(weights)) != tuple(shape):
            raise ValueError(
                f"fixed weights for {ans.name!r} must have shape {tuple(shape)}, "
                f"got {tuple(qml.math.shape(weights))}"
            )
        fixed = lambda: weights  # noqa: E731

    def circuit(inputs):  # noqa: ANN001, F811 - TorchLayer reads this name
        return body(inputs, _like(fixed(), inputs) if fixed is not None else None)

    return qml.QNode(circuit, dev, **qnode_kw), {}


# The gates of the original qelib1.inc (OpenQASM 2 paper) that PennyLane names; anything else
# (CRX, CRY, SWAP, MultiRZ, templates) is decomposed into these so that strict parsers and
# hardware toolchains accept the program.
QELIB1_GATES = frozenset(
    {
        "CNOT", "CZ", "Toffoli", "Hadamard", "PauliX", "PauliY", "PauliZ", "Identity",
        "S", "Adjoint(S)", "T", "Adjoint(T)", "RX", "RY", "RZ", "CRZ",
        "PhaseShift", "U1", "U2", "U3",
    }
)  # fmt: skip


def to_qasm(
    qnode: qml.QNode,
    inputs: Any,
    weights: Any = None,
    *,
    rotations: bool = True,
    measure: bool = True,
    precision: int | None = None,
) -> str:
    """OpenQASM 2.0 (``qelib1.inc`` gates only) for one sample of a :func:`build_qnode` QNode.

    Args:
        qnode: the QNode.
        inputs: one sample (no batch dimension).
        weights: the ansatz weights, if the QNode takes them.
        rotations: append the basis rotations of the measured observables (for hardware that
            measures in Z only); ``False`` gives the state-preparation circuit alone.
        measure: append ``measure`` of every qubit.
        precision: decimal digits for angles (default: full precision).

    Global phases (``GlobalPhase`` from state-preparation decompositions) are dropped: QASM 2 has
    no such gate and they change no measurement.
    """
    inputs = _as_numpy(inputs)
    if inputs.ndim != 1:
        raise ValueError(
            f"to_qasm exports one sample: inputs must be 1-D, got shape {inputs.shape}"
        )
    args = (inputs,) if weights is None else (inputs, _as_numpy(weights))
    tape = qml.tape.make_qscript(qnode.func)(*args)
    [tape], _ = decompose(
        tape,
        stopping_condition=lambda op: op.name in QELIB1_GATES or isinstance(op, qml.GlobalPhase),
        skip_initial_state_prep=False,
        name="to_qasm",
        error=ValueError,
    )
    ops = [op for op in tape.operations if not isinstance(op, qml.GlobalPhase)]
    tape = qml.tape.QuantumScript(ops, tape.measurements if rotations else [])
    wires = qml.wires.Wires(range(len(qnode.device.wires)))
    return qml.to_openqasm(
        tape, wires=wires, rotations=rotations, measure_all=measure, precision=precision
    )


def _like(weights: Any, inputs: Any) -> Any:
    """Fixed weights on the inputs' dtype and device, as TorchLayer does for trainable ones."""
    if isinstance(weights, torch.Tensor) and isinstance(inputs, torch.Tensor):
        return weights.to(inputs)
    return weights


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


__all__ = ["build_qnode", "n_inputs", "n_outputs", "to_qasm"]

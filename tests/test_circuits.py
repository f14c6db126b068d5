"""The circuit catalogue: every entry builds and runs, known values, QASM round trips."""

from __future__ import annotations

import math

import numpy as np
import pennylane as qml
import pytest
import torch
from qclf.circuits import (
    CIRCUITS,
    build_qnode,
    describe,
    get_circuit,
    list_circuits,
    n_inputs,
    qcnn_readout,
    to_qasm,
)
from qclf.circuits.eurosat import eurosat_real_amplitudes

from qclf.quantum import TorchLayer
from qclf.registry import UnknownNameError

ENCODINGS = list_circuits("encoding")
ANSATZE = list_circuits("ansatz")


def qubits_for(name: str) -> int:
    c = get_circuit(name)
    return c.fixed_qubits if c.fixed_qubits is not None else max(4, c.qubits_needed(2))


def pairing(name: str) -> tuple[str, str, int]:
    """(encoding, ansatz, depth) that exercises circuit ``name``."""
    if get_circuit(name).kind == "encoding":
        return name, "strongly_entangling", 1
    return "angle", name, 2


def sample_inputs(encoding: str, n_qubits: int, batch: tuple[int, ...] = ()) -> torch.Tensor:
    n = get_circuit(encoding).n_features(n_qubits)
    return torch.rand(*batch, n, dtype=torch.float64) + 0.1  # amplitude needs a non-zero vector


def state_of(qnode: qml.QNode, *args) -> np.ndarray:
    """PennyLane's state after the QNode's gates (its measurements dropped)."""
    tape = qml.tape.make_qscript(qnode.func)(*args)
    state_tape = qml.tape.QuantumScript(tape.operations, [qml.state()])
    return np.asarray(qml.execute([state_tape], qml.device("default.qubit"))[0])


def test_catalogue_contains_the_published_circuits():
    expected = {
        "angle",
        "hadamard_angle",
        "dense_angle",
        "amplitude",
        "iqp",
        "strongly_entangling",
        "basic_entangler",
        "eurosat_ry",
        "eurosat_real_amplitudes",
        "eurosat_bell",
        "transfer_cascade",
        "dressed",
        "quanv_block",
        "random_layer",
        "qcnn_conv",
        "qcnn_pool",
        "qcnn",
        "no_entanglement",
    }
    assert expected <= set(list_circuits())
    assert set(ENCODINGS) | set(ANSATZE) == set(list_circuits())
    for name in list_circuits():
        c = get_circuit(name)
        assert c.source and c.description and c.fn.__doc__, name


@pytest.mark.parametrize("name", list_circuits())
def test_every_circuit_builds_runs_batched_and_counts_weights(name):
    encoding, ansatz, depth = pairing(name)
    n = qubits_for(name)
    qnode, shapes = build_qnode(n, encoding, ansatz, depth)
    expected = get_circuit(ansatz).shape(n, depth)
    layer = TorchLayer(qnode, shapes)
    n_weights = sum(p.numel() for p in layer.parameters())
    assert n_weights == math.prod(expected) == get_circuit(ansatz).n_weights(n, depth)
    if n_weights:
        assert shapes == {"weights": tuple(expected)}
    out = layer(sample_inputs(encoding, n, (3,)))
    assert out.shape == (3, n) and torch.isfinite(out).all()
    # every catalogue circuit must run on qclf's compiled engine, not its PennyLane fallback
    assert getattr(layer, "compiled", True), layer.fallback_reason
    assert out.abs().max() <= 1 + 1e-6


@pytest.mark.parametrize("rotation", ["X", "Y"])
def test_angle_encoding_gives_cos_x(rotation):
    qnode, _ = build_qnode(3, "angle", None, encoding_kw={"rotation": rotation, "scale": 0.5})
    x = torch.tensor([[0.3, 1.2, -2.0], [2.5, 0.0, 3.1]], dtype=torch.float64)
    out = torch.stack(qnode(x), dim=-1)
    torch.testing.assert_close(out, torch.cos(0.5 * x))


def test_angle_x_measured_in_y_gives_minus_sin_x():
    qnode, _ = build_qnode(2, "angle", None, measurement="Y")
    x = torch.tensor([0.4, 1.3], dtype=torch.float64)
    torch.testing.assert_close(torch.stack(qnode(x)), -torch.sin(x))


def test_pauli_word_measurement():
    qnode, _ = build_qnode(2, "angle", None, measurement=["ZZ", "ZI", "IX"])
    x = torch.tensor([0.4, 1.3], dtype=torch.float64)
    zz, zi, ix = qnode(x)
    torch.testing.assert_close(zz, torch.cos(x[0]) * torch.cos(x[1]))
    torch.testing.assert_close(zi, torch.cos(x[0]))
    torch.testing.assert_close(ix, torch.zeros((), dtype=torch.float64))
    with pytest.raises(ValueError, match="2 letters"):
        build_qnode(2, "angle", None, measurement=["ZZZ"])
    with pytest.raises(ValueError, match="probs"):
        build_qnode(2, "angle", None, measurement="W")


def test_no_entanglement_control_factorises():
    torch.manual_seed(3)
    w = torch.rand(2, 3, 3, dtype=torch.float64) * 6
    qnode, _ = build_qnode(3, "angle", "no_entanglement", depth=2, measurement="probs")
    x = torch.rand(3, dtype=torch.float64)
    probs = qnode(x, w).reshape(2, 2, 2)
    marginals = [probs.sum(dim=tuple(j for j in range(3) if j != i)) for i in range(3)]
    outer = torch.einsum("a,b,c->abc", *marginals)
    torch.testing.assert_close(probs, outer)
    # and each qubit's <Z> depends on its own feature only
    zq, _ = build_qnode(3, "angle", "no_entanglement", depth=2)
    x2 = x.clone()
    x2[2] += 1.0
    a, b = torch.stack(zq(x, w)), torch.stack(zq(x2, w))
    torch.testing.assert_close(a[:2], b[:2])
    assert not torch.isclose(a[2], b[2])


def ry(t: float) -> np.ndarray:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -s], [s, c]])


def test_real_amplitudes_two_qubits_matches_hand_derivation():
    # H⊗H, RY(θ0)⊗RY(θ1), CNOT control 1 -> target 0, RY(θ2)⊗RY(θ3); wire 0 most significant
    th = np.array([[0.3, 1.1], [-0.7, 2.0]])
    h = np.array([[1, 1], [1, -1]]) / math.sqrt(2)
    cnot_1_to_0 = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]])
    expected = (
        np.kron(ry(th[1, 0]), ry(th[1, 1]))
        @ cnot_1_to_0
        @ np.kron(ry(th[0, 0]), ry(th[0, 1]))
        @ np.kron(h, h)
    )
    got = qml.matrix(eurosat_real_amplitudes, wire_order=[0, 1])(th, wires=[0, 1])
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_real_amplitudes_gate_list_is_the_papers():
    tape = qml.tape.make_qscript(eurosat_real_amplitudes)(np.zeros((2, 4)), wires=[0, 1, 2, 3])
    names = [(op.name, tuple(op.wires)) for op in tape.operations]
    cnots = [(1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2)]
    assert names == (
        [("Hadamard", (i,)) for i in range(4)]
        + [("RY", (i,)) for i in range(4)]
        + [("CNOT", c) for c in cnots]
        + [("RY", (i,)) for i in range(4)]
    )
    assert get_circuit("eurosat_real_amplitudes").n_weights(4, 1) == 8


def test_eurosat_circuits_take_angles_from_inputs():
    torch.manual_seed(4)
    for name, n_angles in [("eurosat_ry", 4), ("eurosat_bell", 4), ("eurosat_real_amplitudes", 8)]:
        assert n_inputs(4, None, name) == n_angles
        qnode, shapes = build_qnode(4, None, name, measurement="probs")
        assert shapes == {}
        theta = torch.rand(3, n_angles, dtype=torch.float64)
        out = TorchLayer(qnode, shapes)(theta)
        assert out.shape == (3, 16)
        w = theta[1].reshape(get_circuit(name).shape(4, 1))
        ref = qml.QNode(
            lambda w, name=name: (get_circuit(name)(w, range(4)), qml.probs())[1],
            qml.device("default.qubit", wires=4),
        )
        torch.testing.assert_close(out[1], ref(w))


def test_amplitude_encoding_normalises_and_pads():
    qnode, _ = build_qnode(2, "amplitude", None, measurement="probs")
    x = torch.tensor([[3.0, 0.0, 4.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    expected = torch.tensor([[9, 0, 16, 0], [1, 1, 1, 0]], dtype=torch.float64)
    torch.testing.assert_close(qnode(x), expected / expected.sum(-1, keepdim=True))
    with pytest.raises(ValueError, match="at most 4"):
        qnode(torch.rand(5))


def test_reupload_interleaves_encoding_and_layers():
    qnode, shapes = build_qnode(2, "angle", "basic_entangler", depth=3, reupload=True)
    assert shapes == {"weights": (3, 2)}
    tape = qml.tape.make_qscript(qnode.func)(np.array([0.1, 0.2]), np.zeros((3, 2)))
    names = [op.name for op in tape.operations]
    assert names == ["RX", "RX", "BasicEntanglerLayers"] * 3
    plain, _ = build_qnode(2, "angle", "basic_entangler", depth=3)
    x, w = torch.tensor([0.5, 0.9]), torch.rand(3, 2)
    assert not torch.allclose(torch.stack(qnode(x, w)), torch.stack(plain(x, w)))
    with pytest.raises(ValueError, match="layered"):
        build_qnode(4, "angle", "eurosat_ry", reupload=True)


def test_fixed_weights_qnode_equals_trainable_one():
    w = torch.rand(2, 3, dtype=torch.float64)
    fixed, shapes = build_qnode(3, "angle", "random_layer", depth=2, weights=w)
    free, _ = build_qnode(3, "angle", "random_layer", depth=2)
    assert shapes == {}
    x = torch.rand(4, 3, dtype=torch.float64)
    torch.testing.assert_close(torch.stack(fixed(x)), torch.stack(free(x, w)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        build_qnode(3, "angle", "random_layer", depth=2, weights=torch.rand(3, 3))


def test_qcnn_pools_down_to_readout():
    assert qcnn_readout(range(8), 3) == [7]
    assert qcnn_readout(range(8), 1) == [1, 3, 5, 7]
    assert qcnn_readout(range(5), 1) == [1, 3, 4]
    qnode, shapes = build_qnode(8, "hadamard_angle", "qcnn", depth=3, measure_wires=[7])
    assert shapes == {"weights": (3, 7)}
    assert TorchLayer(qnode, shapes)(torch.rand(2, 8)).shape == (2, 1)
    with pytest.raises(ValueError, match="at least 8 qubits"):
        build_qnode(4, "angle", "qcnn", depth=3)


@pytest.mark.parametrize("name", list_circuits())
def test_qasm_round_trip_through_qiskit(name):
    torch.manual_seed(5)
    encoding, ansatz, depth = pairing(name)
    n = qubits_for(name)
    qnode, shapes = build_qnode(n, encoding, ansatz, depth)
    x = sample_inputs(encoding, n)
    args = (x,) + ((torch.rand(shapes["weights"], dtype=torch.float64) * 6,) if shapes else ())
    qasm = to_qasm(qnode, *args, rotations=False, measure=False)
    # Qiskit orders qubits little-endian, PennyLane big-endian: reverse before comparing
    qasm2 = pytest.importorskip("qiskit.qasm2")
    Statevector = pytest.importorskip("qiskit.quantum_info").Statevector
    qiskit_state = Statevector(qasm2.loads(qasm)).reverse_qargs().data
    pl_state = state_of(qnode, *args)
    overlap = np.vdot(pl_state, qiskit_state)
    assert abs(abs(overlap) - 1) < 1e-9, name  # equal up to a global phase
    if "amplitude" not in name:  # only state preparation drops a global phase
        np.testing.assert_allclose(qiskit_state, pl_state, atol=1e-9)
    hardware = qasm2.loads(to_qasm(qnode, *args))
    assert sum(i.operation.name == "measure" for i in hardware.data) == n


def test_to_qasm_rotates_into_the_measured_basis_and_rejects_batches():
    qnode, shapes = build_qnode(2, "angle", "strongly_entangling", measurement="Y")
    w = torch.rand(shapes["weights"])
    qasm = to_qasm(qnode, torch.rand(2), w)
    assert qasm.startswith("OPENQASM 2.0;")
    # <Y> is read in Z after Z, S, H (PennyLane's diagonalising gates for PauliY)
    assert all(f"{g} q[1];" in qasm for g in ("z", "s", "h"))
    with pytest.raises(ValueError, match="1-D"):
        to_qasm(qnode, torch.rand(3, 2), w)


def test_unknown_names_suggest_close_matches():
    with pytest.raises(UnknownNameError, match="strongly_entangling"):
        get_circuit("strongly_entangle")
    with pytest.raises(ValueError, match="'angle'"):
        build_qnode(4, "angel")
    with pytest.raises(ValueError, match="is an encoding, not an ansatz"):
        build_qnode(4, "angle", "amplitude")
    with pytest.raises(ValueError, match="exactly|at least"):
        build_qnode(1, "angle", "eurosat_bell")


def test_describe_rows_for_the_cli():
    rows = describe()
    assert [r["name"] for r in rows] == list_circuits()
    by_name = {r["name"]: r for r in rows}
    assert by_name["strongly_entangling"]["weights"] == 4 * 3
    assert by_name["amplitude"]["features"] == 16
    assert by_name["eurosat_real_amplitudes"]["weights"] == 8
    assert all(r["kind"] in ("encoding", "ansatz") and r["source"] for r in rows)
    assert len(rows) == len(CIRCUITS)

"""Exactness of qclf.quantum.TorchLayer against pennylane.qnn.TorchLayer (default.qubit)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pennylane as qml
import pytest
import torch

from qclf.quantum import TorchLayer, UnsupportedCircuit, simulate
from qclf.quantum.engine import thresholds

VAL_TOL = 1e-5
GRAD_TOL = 1e-4


def _dev(n, **kw):
    return qml.device("default.qubit", wires=n, **kw)


def compare(qnode, weight_shapes, x, *, dtype=torch.float64, seed=0, check_grad=True, tol=None,
            gtol=None):
    """Build both layers with identical weights and compare outputs and gradients."""
    torch.manual_seed(seed)
    ref = qml.qnn.TorchLayer(qnode, weight_shapes)
    new = TorchLayer(qnode, weight_shapes)
    new.load_state_dict(ref.state_dict())
    assert new.compiled, new.fallback_reason

    x = x.to(dtype)
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    ya = ref(xa)
    yb = new(xb)
    assert new.compiled, new.fallback_reason
    assert ya.shape == yb.shape
    assert ya.dtype == yb.dtype
    tol = tol if tol is not None else VAL_TOL if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(yb.detach().numpy(), ya.detach().numpy(), atol=tol, rtol=0)
    if not check_grad:
        return yb
    g = torch.randn(ya.shape, dtype=ya.dtype, generator=torch.Generator().manual_seed(seed))
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    gtol = gtol if gtol is not None else GRAD_TOL if dtype == torch.float64 else 1e-3
    if xa.grad is not None or xb.grad is not None:
        np.testing.assert_allclose(xb.grad.numpy(), xa.grad.numpy(), atol=gtol, rtol=0)
    for name, p in ref.named_parameters():
        q = dict(new.named_parameters())[name]
        ga = p.grad if p.grad is not None else torch.zeros_like(p)
        gb = q.grad if q.grad is not None else torch.zeros_like(q)
        np.testing.assert_allclose(gb.numpy(), ga.numpy(), atol=gtol, rtol=0)
    return yb


# ------------------------------------------------------------------------ named circuits


def quanv_qnode(rotation=qml.RY):
    @qml.qnode(_dev(4), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        for j in range(4):
            qml.RY(math.pi * inputs[..., j], wires=j)
        qml.BasicEntanglerLayers(weights, wires=range(4), rotation=rotation)
        return [qml.expval(qml.PauliZ(j)) for j in range(4)]

    return circuit, {"weights": (2, 4)}


def test_quanvolution_real_and_complex():
    x = torch.rand(6, 4)
    compare(*quanv_qnode(qml.RY), x)
    compare(*quanv_qnode(qml.RX), x)


@pytest.mark.parametrize("rotation", ["X", "Y", "Z"])
def test_angle_strongly_entangling_y(rotation):
    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        if rotation == "Z":
            for j in range(3):
                qml.Hadamard(j)
        qml.AngleEmbedding(inputs, wires=range(3), rotation=rotation)
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        return [qml.expval(qml.PauliY(j)) for j in range(3)]

    compare(circuit, {"weights": (2, 3, 3)}, torch.rand(5, 3) * 3)


def test_basic_entangler_single_output():
    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(3))
        qml.BasicEntanglerLayers(weights, wires=range(3))
        return qml.expval(qml.PauliZ(0))

    compare(circuit, {"weights": (3, 3)}, torch.rand(4, 3))


def test_amplitude_embedding():
    @qml.qnode(_dev(4), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AmplitudeEmbedding(inputs, wires=range(4), normalize=True, pad_with=0.0)
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        return [qml.expval(qml.PauliZ(j)) for j in range(4)]

    compare(circuit, {"weights": (2, 4, 3)}, torch.rand(5, 10) + 0.1)
    compare(circuit, {"weights": (2, 4, 3)}, torch.rand(10) + 0.1)


def test_state_prep_on_subset_of_wires():
    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, w):
        qml.RX(w[0], wires=1)
        qml.StatePrep(inputs, wires=[2, 0], normalize=True)
        qml.CNOT([0, 1])
        qml.CRY(w[1], wires=[2, 1])
        return [qml.probs(wires=[1, 0]), qml.expval(qml.PauliX(2))]

    compare(circuit, {"w": 2}, torch.rand(4, 4) + 0.1)


def test_data_reuploading():
    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        for layer in range(2):
            qml.AngleEmbedding(inputs, wires=range(3), rotation="X")
            qml.StronglyEntanglingLayers(weights[layer : layer + 1], wires=range(3))
            qml.RZ(inputs[..., 0] * weights[layer, 0, 0, 0], wires=1)
        return [qml.expval(qml.PauliZ(j)) for j in range(3)]

    compare(circuit, {"weights": (2, 1, 3, 3)}, torch.rand(5, 3))


def test_probs_outputs():
    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(3))
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        return qml.probs(wires=[2, 0])

    compare(circuit, {"weights": (1, 3, 3)}, torch.rand(5, 3))

    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit_all(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(3))
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        return qml.probs()

    compare(circuit_all, {"weights": (1, 3, 3)}, torch.rand(5, 3))

    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit_obs(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(3))
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        return [qml.probs(op=qml.PauliX(1)), qml.probs(op=qml.PauliZ(0) @ qml.PauliY(2))]

    compare(circuit_obs, {"weights": (1, 3, 3)}, torch.rand(5, 3))


def test_pauli_words_hamiltonian_variance_hermitian():
    h_mat = np.array([[1.0, 0.5 - 0.2j], [0.5 + 0.2j, -0.3]])

    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(3), rotation="Y")
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        ham = qml.Hamiltonian(
            [0.3, -1.2, 0.7], [qml.PauliZ(0) @ qml.PauliZ(1), qml.PauliX(2), qml.PauliY(0)]
        )
        return (
            qml.expval(qml.PauliZ(0) @ qml.PauliZ(1)),
            qml.expval(ham),
            qml.expval(qml.PauliX(0) @ qml.PauliY(1) @ qml.PauliZ(2)),
            qml.expval(0.5 * qml.PauliX(1) + qml.Identity(0) * 2.0),
            qml.var(qml.PauliX(1)),
            qml.var(qml.PauliZ(0) + qml.PauliX(0)),
            qml.expval(qml.Hermitian(h_mat, wires=1)),
            qml.var(qml.Hermitian(h_mat, wires=2)),
            qml.expval(qml.Hadamard(0)),
        )

    compare(circuit, {"weights": (2, 3, 3)}, torch.rand(5, 3))


def test_mixed_measurements_concatenated():
    @qml.qnode(_dev(2), interface="torch", diff_method="backprop")
    def circuit(inputs, w):
        qml.RX(inputs[..., 0], 0)
        qml.RY(inputs[..., 1], 1)
        qml.CNOT([0, 1])
        qml.Rot(*w, wires=1)
        return [qml.expval(qml.PauliZ(0)), qml.probs(wires=[1])]

    compare(circuit, {"w": 3}, torch.rand(5, 2))
    compare(circuit, {"w": 3}, torch.rand(2))


@pytest.mark.parametrize("shape", [(5, 4), (4,), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batch_shapes_and_dtypes(shape, dtype):
    y = compare(*quanv_qnode(qml.RX), torch.rand(shape), dtype=dtype)
    assert y.shape == (*shape[:-1], 4)
    assert y.dtype == dtype


def test_weight_shapes_int_and_scalar_and_init():
    @qml.qnode(_dev(2), interface="torch", diff_method="backprop")
    def circuit(inputs, a, b, c):
        qml.RX(inputs[..., 0] * a, 0)
        qml.RY(b[0] + c[0, 1], 1)
        qml.IsingXX(b[1], wires=[0, 1])
        return qml.expval(qml.PauliZ(0)), qml.expval(qml.PauliZ(1))

    ws = {"a": 1, "b": 2, "c": (1, 2)}
    compare(circuit, ws, torch.rand(3, 1))
    layer = TorchLayer(circuit, ws, init_method=torch.nn.init.normal_)
    assert layer.a.shape == () and layer.b.shape == (2,) and layer.c.shape == (1, 2)
    init = {"a": torch.tensor(0.3), "b": torch.nn.init.zeros_, "c": torch.nn.init.ones_}
    layer = TorchLayer(circuit, ws, init_method=init)
    assert layer.a.item() == pytest.approx(0.3) and layer.c.sum().item() == 2.0


def test_state_dict_interchangeable():
    qnode, ws = quanv_qnode(qml.RX)
    torch.manual_seed(1)
    ref = qml.qnn.TorchLayer(qnode, ws)
    new = TorchLayer(qnode, ws)
    assert set(ref.state_dict()) == set(new.state_dict())
    x = torch.rand(3, 4, dtype=torch.float64)
    new.load_state_dict(ref.state_dict())
    torch.testing.assert_close(new(x), ref(x), atol=1e-6, rtol=0)
    new2 = TorchLayer(qnode, ws)
    ref.load_state_dict(new2.state_dict())
    torch.testing.assert_close(new2(x), ref(x), atol=1e-6, rtol=0)
    # also inside a torch.nn.Sequential
    seq_ref = torch.nn.Sequential(torch.nn.Linear(4, 4), ref).double()
    seq_new = torch.nn.Sequential(torch.nn.Linear(4, 4), new).double()
    seq_new.load_state_dict(seq_ref.state_dict())
    torch.testing.assert_close(seq_new(x), seq_ref(x), atol=1e-6, rtol=0)


def test_isinstance_and_input_arg():
    qnode, ws = quanv_qnode()
    layer = TorchLayer(qnode, ws)
    assert isinstance(layer, qml.qnn.TorchLayer)
    assert layer.input_arg == "inputs"
    ref = qml.qnn.TorchLayer(qnode, ws)
    assert repr(layer) == repr(ref) and str(layer) == str(ref)  # PennyLane's own printout


# ------------------------------------------------------------------------------ fallback


def test_fallback_mid_circuit_measurement(caplog):
    @qml.qnode(_dev(2), interface="torch", diff_method="backprop")
    def circuit(inputs, w):
        qml.RY(inputs[..., 0], 0)
        qml.CNOT([0, 1])
        m = qml.measure(1)
        qml.cond(m, qml.RX)(w, wires=0)
        return qml.expval(qml.PauliZ(0))

    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(circuit, {"w": 1})
    new = TorchLayer(circuit, {"w": 1}, strict=False)
    new.load_state_dict(ref.state_dict())
    x = torch.rand(3, 1, dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="qclf.quantum"):
        y = new(x)
        new(x)
    assert not new.compiled and new.fallback_reason
    assert sum("PennyLane" in r.message for r in caplog.records) == 1
    torch.testing.assert_close(y, ref(x))


def test_shots_device_runs_on_the_engine():
    dev = qml.device("default.qubit", wires=2)

    @qml.set_shots(shots=1000)
    @qml.qnode(dev, interface="torch", diff_method="parameter-shift")
    def circuit(inputs, w):
        qml.RY(inputs[..., 0], 0)
        qml.RX(w, 1)
        return qml.expval(qml.PauliZ(0))

    layer = TorchLayer(circuit, {"w": 1})
    y = layer(torch.zeros(2, 1))
    assert layer.compiled
    torch.testing.assert_close(y, torch.ones(2))  # RY(0)|0>: exact even with shots


def test_invalid_input_raises_and_stays_compiled():
    qnode, ws = quanv_qnode(qml.RX)
    layer = TorchLayer(qnode, ws)
    with pytest.raises(Exception):  # noqa: B017 - whatever PennyLane raises for it
        layer(torch.rand(3, 2))  # too few features for inputs[..., 3]
    assert layer.compiled
    assert layer(torch.rand(3, 4)).shape == (3, 4)


def test_fallback_forced_equals_compiled():
    qnode, ws = quanv_qnode(qml.RX)
    a = TorchLayer(qnode, ws)
    b = TorchLayer(qnode, ws, force_fallback=True)
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 4, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x))
    assert a.compiled and not b.compiled


def test_simulate_raises_on_unsupported():
    tape = qml.tape.QuantumScript([qml.Hadamard(0)], [qml.sample(wires=0)])
    with pytest.raises(UnsupportedCircuit):
        simulate(tape)
    tape = qml.tape.QuantumScript([qml.Hadamard(0), qml.AmplitudeDamping(0.1, 0)], [qml.probs()])
    with pytest.raises(UnsupportedCircuit):
        simulate(tape)


def test_simulate_direct_matches_default_qubit():
    theta = torch.tensor([0.1, 0.7, 2.0], dtype=torch.float64)
    ops = [qml.RX(theta, 0), qml.Hadamard(1), qml.CRZ(0.4, [1, 0]), qml.IsingZZ(theta, [0, 1])]
    mps = [qml.expval(qml.PauliY(0)), qml.probs(wires=[1, 0])]
    tape = qml.tape.QuantumScript(ops, mps)
    got = simulate(tape)
    want = qml.devices.qubit.simulate(tape)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), np.asarray(w), atol=1e-10)


@pytest.mark.parametrize("batch", [2, 300])
def test_wide_circuit_blocks_and_fusion(batch):
    """7 qubits: small batches run gate blocks one by one, large ones fuse the unitary."""

    @qml.qnode(_dev(7), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(7), rotation="Y")
        qml.StronglyEntanglingLayers(weights, wires=range(7))
        qml.RX(inputs[..., 3], wires=2)  # batched gate after the weight-only run
        qml.CRot(*weights[0, 0], wires=[6, 0])
        return [qml.expval(qml.PauliX(0)), qml.probs(wires=[3, 1]), qml.var(qml.PauliY(5))]

    compare(circuit, {"weights": (2, 7, 3)}, torch.rand(batch, 7))


def test_simulate_fuse_flag_and_dtypes():
    theta = torch.rand(5, dtype=torch.float64)
    w = torch.rand(3, dtype=torch.float64)
    ops = [qml.RY(theta, 0), qml.RX(w[0], 1), qml.CNOT([0, 1]), qml.RZ(w[1], 1), qml.CZ([1, 2]),
           qml.Rot(w[0], w[1], w[2], wires=2), qml.CNOT([2, 0])]  # fmt: skip
    mps = [qml.expval(qml.PauliZ(0) @ qml.PauliX(2)), qml.probs(wires=[2])]
    a = simulate(ops, mps, fuse=True)
    b = simulate(ops, mps, fuse=False)
    c = simulate(ops, mps, dtype=torch.float32)
    for x, y, z in zip(a, b, c, strict=True):
        torch.testing.assert_close(x, y)
        assert z.dtype == torch.float32
        torch.testing.assert_close(z.double(), x, atol=1e-5, rtol=0)


def test_device_without_wires():
    @qml.qnode(qml.device("default.qubit"), interface="torch", diff_method="backprop")
    def circuit(inputs, w):
        qml.RY(inputs[..., 0], wires=2)
        qml.CNOT([2, 0])
        qml.RX(w, wires=0)
        return [qml.probs(), qml.expval(qml.PauliZ(0))]

    compare(circuit, {"w": 1}, torch.rand(3, 1))


def test_string_wire_labels():
    @qml.qnode(qml.device("default.qubit", wires=["a", "b", "c"]), interface="torch")
    def circuit(inputs, w):
        qml.AngleEmbedding(inputs, wires=["c", "a"])
        qml.CNOT(["a", "b"])
        qml.RY(w, "b")
        qml.CZ(["b", "c"])
        return [qml.probs(), qml.expval(qml.PauliX("b") @ qml.PauliZ("c"))]

    compare(circuit, {"w": 1}, torch.rand(3, 2))


# ------------------------------------------------------------------------ random circuits


def _force_path(path, monkeypatch):
    """Force the engine's other code paths on small test circuits: single-qubit layers one wire
    at a time and no blocks, or every weight-only run fused into one unitary."""
    if path == "one_wire_layers":
        monkeypatch.setattr(thresholds, "GROUP_MAX_WIRES", 1)
        monkeypatch.setattr(thresholds, "FULL_LAYER_MAX_WIRES", 0)
        monkeypatch.setattr(thresholds, "BLOCK_MAX_WIRES", 1)
    elif path == "fused_unitary":
        monkeypatch.setattr(thresholds, "RUN_FUSE_MIN_RATIO", 0)

_ONE_PARAM = [qml.RX, qml.RY, qml.RZ, qml.PhaseShift]
_TWO_WIRE_PARAM = [qml.CRX, qml.CRY, qml.CRZ, qml.ControlledPhaseShift, qml.IsingXX,
                   qml.IsingYY, qml.IsingZZ]  # fmt: skip
_FIXED_1 = [qml.Hadamard, qml.S, qml.T, qml.PauliX, qml.PauliY, qml.PauliZ, qml.SX]
_FIXED_2 = [qml.CNOT, qml.CZ, qml.CY, qml.SWAP]


def _random_program(rng, n, n_feat, n_w):
    prog = []

    def src():
        r = rng.random()
        if r < 0.4:
            return ("x", int(rng.integers(n_feat)), float(rng.uniform(0.5, 2)))
        if r < 0.85:
            return ("w", int(rng.integers(n_w)), 1.0)
        return ("c", float(rng.uniform(-3, 3)), 1.0)

    for _ in range(int(rng.integers(6, 16))):
        kind = rng.integers(7)
        wires = [int(w) for w in rng.permutation(n)]
        if kind == 0:
            prog.append((_ONE_PARAM[rng.integers(len(_ONE_PARAM))], wires[:1], [src()]))
        elif kind == 1 and n >= 2:
            g = _TWO_WIRE_PARAM[rng.integers(len(_TWO_WIRE_PARAM))]
            prog.append((g, wires[:2], [src()]))
        elif kind == 2:
            prog.append((_FIXED_1[rng.integers(len(_FIXED_1))], wires[:1], []))
        elif kind == 3 and n >= 2:
            prog.append((_FIXED_2[rng.integers(len(_FIXED_2))], wires[:2], []))
        elif kind == 4:
            prog.append(
                (qml.Rot if rng.random() < 0.5 else qml.U3, wires[:1], [src() for _ in range(3)])
            )
        elif kind == 5 and n >= 3:
            prog.append((qml.Toffoli if rng.random() < 0.5 else qml.MultiRZ, wires[:3],
                         [] if rng.random() < 0.5 else [src()]))  # fmt: skip
        else:
            prog.append((qml.CRot, wires[:2], [src() for _ in range(3)]) if n >= 2 else
                        (qml.RY, wires[:1], [src()]))  # fmt: skip
    # fix arity of Toffoli/MultiRZ choices
    prog = [
        (qml.MultiRZ, w, s) if g is qml.Toffoli and s else
        (qml.Toffoli, w, s) if g is qml.MultiRZ and not s else (g, w, s)
        for g, w, s in prog
    ]  # fmt: skip
    meas = []
    for _ in range(int(rng.integers(1, 4))):
        r = rng.random()
        wires = [int(w) for w in rng.permutation(n)[: rng.integers(1, n + 1)]]
        if r < 0.6:
            word = [("XYZ"[rng.integers(3)], w) for w in wires]
            meas.append(("expval", word))
        elif r < 0.8:
            meas.append(("probs", wires[:2]))
        else:
            meas.append(("var", [("XYZ"[rng.integers(3)], wires[0])]))
    return prog, meas


def _random_qnode(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    n_feat, n_w = 3, 5
    prog, meas = _random_program(rng, n, n_feat, n_w)
    paulis = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}

    @qml.qnode(_dev(n), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        for j in range(n):  # some data-dependent encoding at the start, as usual
            if rng_start[j]:
                qml.RY(inputs[..., j % n_feat], wires=j)
        for gate, wires, srcs in prog:
            params = []
            for kind, a, scale in srcs:
                if kind == "x":
                    params.append(inputs[..., a] * scale)
                elif kind == "w":
                    params.append(weights[a])
                else:
                    params.append(inputs.new_tensor(a))
            gate(*params, wires=wires)
        out = []
        for kind, spec in meas:
            if kind == "probs":
                out.append(qml.probs(wires=spec))
            elif kind == "var":
                out.append(qml.var(paulis[spec[0][0]](spec[0][1])))
            else:
                out.append(qml.expval(qml.prod(*[paulis[p](w) for p, w in spec])))
        return out

    rng_start = rng.random(n) < 0.7
    return circuit, {"weights": n_w}


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("path", ["auto", "one_wire_layers", "fused_unitary"])
def test_random_circuits(seed, path, monkeypatch):
    _force_path(path, monkeypatch)
    qnode, ws = _random_qnode(seed)
    compare(qnode, ws, torch.rand(4, 3) * 2, seed=seed)


@pytest.mark.parametrize("rotation", [qml.RX, qml.RY])
def test_large_batch_quanvolution(rotation):
    """A batch large enough for the fused path with its default thresholds."""
    compare(*quanv_qnode(rotation), torch.rand(1100, 4))


def test_named_circuits_forced_fused_path(monkeypatch):
    monkeypatch.setattr(thresholds, "GROUP_MAX_WIRES", 1)
    test_quanvolution_real_and_complex()
    test_data_reuploading()
    test_amplitude_embedding()
    test_pauli_words_hamiltonian_variance_hermitian()
    test_mixed_measurements_concatenated()


def test_random_circuits_unbatched_float32():
    for seed in range(5):
        qnode, ws = _random_qnode(100 + seed)
        compare(qnode, ws, torch.rand(3) * 2, seed=seed)
        compare(qnode, ws, torch.rand(2, 3) * 2, seed=seed, dtype=torch.float32)


# ------------------------------------------------------------------------------- catalogue


def _qubits_needed(c, depth):
    if hasattr(c, "qubits_needed"):
        return c.qubits_needed(depth)
    m = c.min_qubits
    return m(depth) if callable(m) else m


def _catalogue_cases():
    try:
        from qclf import circuits
    except Exception:  # pragma: no cover - the catalogue package is not importable
        return []
    cases = []
    for name in circuits.list_circuits():
        c = circuits.get_circuit(name)
        n = c.fixed_qubits if c.fixed_qubits is not None else max(4, _qubits_needed(c, 2))
        if c.kind == "encoding":
            cases.append(
                pytest.param(
                    dict(n_qubits=n, encoding=name, ansatz="strongly_entangling", depth=1),
                    id=f"enc-{name}",
                )
            )
        else:
            cases.append(
                pytest.param(
                    dict(n_qubits=n, encoding="angle", ansatz=name, depth=2), id=f"ans-{name}"
                )
            )
            if c.layered:
                cases.append(
                    pytest.param(
                        dict(
                            n_qubits=n,
                            encoding="angle",
                            ansatz=name,
                            depth=2,
                            reupload=True,
                            measurement="Y",
                        ),
                        id=f"reupload-{name}",
                    )
                )
    cases.append(
        pytest.param(
            dict(n_qubits=3, encoding=None, ansatz="strongly_entangling", measurement="probs"),
            id="no-encoding-probs",
        )
    )
    cases.append(
        pytest.param(
            dict(
                n_qubits=4,
                encoding="angle",
                ansatz="basic_entangler",
                measurement=["ZZII", "XIYI", "IIII"],
            ),
            id="pauli-words",
        )
    )
    return cases  # fmt: skip


@pytest.mark.parametrize("kw", _catalogue_cases())
@pytest.mark.parametrize("path", ["auto", "one_wire_layers", "fused_unitary"])
def test_catalogue_circuit(kw, path, monkeypatch):
    from qclf import circuits

    _force_path(path, monkeypatch)

    qnode, ws = circuits.build_qnode(diff_method="backprop", **kw)
    tape_inputs = qnode.func.__code__.co_varnames[: qnode.func.__code__.co_argcount]
    assert "inputs" in tape_inputs
    if kw.get("encoding") is None:
        n_in = circuits.n_inputs(kw["n_qubits"], None, kw["ansatz"], kw.get("depth", 1))
    else:
        n_in = circuits.n_inputs(kw["n_qubits"], kw["encoding"], kw["ansatz"], kw.get("depth", 1))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, n_in, generator=gen) + 0.05
    compare(qnode, ws, x)


# ------------------------------------------------------------------------------------ CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_matches_cpu():
    qnode, ws = quanv_qnode(qml.RX)
    layer = TorchLayer(qnode, ws).double()
    x = torch.rand(7, 4, dtype=torch.float64)
    y_cpu = layer(x)
    layer_cuda = TorchLayer(qnode, ws)
    layer_cuda.load_state_dict(layer.state_dict())
    layer_cuda = layer_cuda.cuda()
    xc = x.cuda().requires_grad_(True)
    y = layer_cuda(xc)
    assert y.device.type == "cuda" and layer_cuda.compiled
    y.sum().backward()
    assert xc.grad.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), y_cpu, atol=1e-6, rtol=0)
    for dtype in (torch.float32, torch.float64):
        y = layer_cuda(x.cuda().to(dtype))
        assert y.dtype == dtype and y.device.type == "cuda"


# ------------------------------------------- small-state fusion (layered unitaries, caching)


@pytest.mark.parametrize("seed", range(20))
def test_random_circuits_small_gate_by_gate(seed, monkeypatch):
    """The previous small-state path (no layered fusion) stays exact."""
    monkeypatch.setattr(thresholds, "GROUP_MAX_WIRES", 2)
    qnode, ws = _random_qnode(seed)
    compare(qnode, ws, torch.rand(4, 3) * 2, seed=seed)


def _const_block_qnode(control_values, swap_wires):
    @qml.qnode(_dev(4), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(4), rotation="X")
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        qml.MultiControlledX(wires=[0, 1, 2, 3], control_values=control_values)
        qml.SWAP(wires=swap_wires)
        qml.Rot(*weights[0, 0], wires=3)
        return [qml.expval(qml.PauliY(w)) for w in range(4)]

    return circuit, {"weights": (2, 4, 3)}


def test_layered_fusion_constant_blocks_are_keyed_correctly():
    """Constant blocks are cached across calls: circuits differing only in hyperparameters
    or wires of constant gates must not share a cached block."""
    x = torch.rand(6, 4) * 3
    for cv, sw in [([1, 1, 1], [0, 1]), ([0, 1, 0], [0, 1]), ([1, 1, 1], [2, 3])]:
        compare(*_const_block_qnode(cv, sw), x)


def test_weights_and_inputs_changes_between_calls_are_reflected():
    qnode, ws = _const_block_qnode([1, 0, 1], [1, 2])
    torch.manual_seed(3)
    ref = qml.qnn.TorchLayer(qnode, ws)
    new = TorchLayer(qnode, ws)
    new.load_state_dict(ref.state_dict())
    opt = torch.optim.SGD(new.parameters(), lr=0.3)
    for step in range(3):
        x = torch.rand(5, 4, dtype=torch.float64) * (step + 1)
        ref.load_state_dict(new.state_dict())
        ya, yb = ref(x.double()), new(x)
        np.testing.assert_allclose(yb.detach().numpy(), ya.detach().numpy(), atol=VAL_TOL)
        opt.zero_grad()
        yb.sum().backward()
        opt.step()  # weights change before the next call


def test_data_dependent_structure_is_not_reused():
    """A circuit whose gates depend on the input values gives PennyLane's result per call:
    a changed structure compiles a new plan, never reuses another one."""

    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(3))
        if float(inputs.sum()) > 0:
            qml.CNOT(wires=[0, 1])
            qml.RY(weights[0], wires=2)
        else:
            qml.CZ(wires=[1, 2])
            qml.Hadamard(wires=0)
            qml.RX(weights[1], wires=1)
        qml.BasicEntanglerLayers(weights[None, :3], wires=range(3))
        return [qml.expval(qml.PauliZ(w)) for w in range(3)]

    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(circuit, {"weights": 3})
    new = TorchLayer(circuit, {"weights": 3})
    new.load_state_dict(ref.state_dict())
    for sign in (1, -1, 1, -1):
        x = sign * (torch.rand(4, 3, dtype=torch.float64) + 0.1)
        np.testing.assert_allclose(
            new(x).detach().numpy(), ref(x).detach().numpy(), atol=VAL_TOL, rtol=0
        )
    assert new.compiled, new.fallback_reason
    assert new.plans.compiles == 2  # one plan per structure, each replayed

"""``qclf.cutting``: cut circuits agree with the uncut circuit (PennyLane's own simulator) in
values and gradients, fragments fit, and circuits that cannot be split say why."""

from __future__ import annotations

import pennylane as qml
import pytest
import torch
from qclf.circuits import build_qnode

from qclf.cutting import CutError, CutLayer, find_cuts, split


def _check(qnode, max_qubits, *args, cuts=None, n_cuts=None, atol=1e-6, gtol=1e-5):
    cut = split(qnode, max_qubits, cuts=cuts)
    got = cut(*args)
    want = qnode(*args)
    got = got if isinstance(got, tuple) else (got,)
    want = tuple(want) if isinstance(want, (tuple, list)) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert torch.allclose(g, w, atol=atol, rtol=0), (g - w).abs().max()
    diff = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    probe = [torch.randn_like(w) for w in want]
    g_cut = torch.autograd.grad(sum((g * p).sum() for g, p in zip(got, probe, strict=True)),
                                diff)
    g_ref = torch.autograd.grad(sum((w * p).sum() for w, p in zip(want, probe, strict=True)),
                                diff)
    for a, b in zip(g_cut, g_ref, strict=True):
        assert torch.allclose(a, b, atol=gtol, rtol=0), (a - b).abs().max()
    plan = cut.plan
    assert all(f.width <= max_qubits for f in plan.fragments)
    if n_cuts is not None:
        assert plan.n_cuts == n_cuts, plan.describe()
    return plan


def _random_circuit(n: int, n_gates: int, seed: int, measure):
    """Random 1- and 2-qubit gates; two-qubit gates only between neighbours in two halves
    joined by ``bridges`` so that a few cuts separate them."""
    gen = torch.Generator().manual_seed(seed)
    half = n // 2
    plan = []
    for _ in range(n_gates):
        kind = int(torch.randint(0, 5, (1,), generator=gen))
        side = int(torch.randint(0, 2, (1,), generator=gen))
        lo, hi = (0, half) if side == 0 else (half, n)
        a = int(torch.randint(lo, hi, (1,), generator=gen))
        plan.append((kind, a, lo, hi))
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n), rotation="Y")
        for k, (kind, a, lo, hi) in enumerate(plan):
            b = lo + (a - lo + 1) % (hi - lo)
            if kind == 0:
                qml.RX(weights[k], wires=a)
            elif kind == 1:
                qml.Rot(weights[k], 0.3, weights[k] * 2, wires=a)
            elif kind == 2:
                qml.CNOT(wires=[a, b])
            elif kind == 3:
                qml.CRZ(weights[k], wires=[a, b])
            else:
                qml.IsingXX(weights[k], wires=[a, b])
        for i in range(n - 1):  # the bridges come after each half's gates on those wires
            if i == half - 1:
                qml.CNOT(wires=[i, i + 1])
        qml.RY(weights[0], wires=half)
        return measure()

    return circuit, len(plan)


@pytest.mark.parametrize("n, seed", [(6, 0), (8, 1), (10, 2)])
def test_random_circuits_one_cut_expvals_and_probs(n, seed):
    half = n // 2

    def measure():
        return (qml.expval(qml.PauliZ(0) @ qml.PauliZ(n - 1)),
                qml.expval(qml.PauliX(half) + 0.5 * qml.PauliY(1)),
                qml.probs(wires=[half - 1, half]))

    circuit, k = _random_circuit(n, 30, seed, measure)
    x = torch.rand(5, n, dtype=torch.float64, requires_grad=True)
    w = torch.rand(k, dtype=torch.float64, requires_grad=True)
    plan = _check(circuit, half + 1, x, w, n_cuts=1)
    assert len(plan.fragments) == 2


def test_ring_needs_two_cuts_and_matches():
    n = 8
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch")
    def ring(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n))
        qml.BasicEntanglerLayers(weights, wires=range(n))  # CNOT ring: no single cut helps
        return [qml.expval(qml.PauliZ(i)) for i in range(n)]

    x = torch.rand(4, n, dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, n, dtype=torch.float64, requires_grad=True)
    _check(ring, 5, x, w, n_cuts=2)


def test_qcnn_catalogue_circuit_at_8_qubits_on_5_qubit_pieces():
    qnode, shapes = build_qnode(8, "hadamard_angle", "qcnn_conv", measurement="probs",
                                measure_wires=[5, 6, 7])
    x = torch.rand(3, 8, dtype=torch.float64, requires_grad=True)
    w = torch.rand(shapes["weights"], dtype=torch.float64, requires_grad=True)
    plan = _check(qnode, 5, x, w)
    assert plan.n_cuts >= 1 and plan.max_width <= 5


def test_unbatched_float32_and_user_cuts():
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev, interface="torch")
    def chain(inputs, weights):
        for i in range(4):
            qml.RY(inputs[..., i], wires=i)
        for i in range(3):
            qml.CNOT(wires=[i, i + 1])
            qml.RX(weights[i], wires=i + 1)
        return qml.expval(qml.PauliZ(3)), qml.probs(wires=[0])

    x = torch.rand(4, dtype=torch.float32)
    w = torch.rand(3, dtype=torch.float32)
    auto = split(chain, 3)
    ops = auto.plan_for(x, w).op_names
    cnot12 = [i for i, name in enumerate(ops) if name == "CNOT"][1]
    manual = split(chain, 3, cuts=[(2, cnot12)])
    for got in (auto(x, w), manual(x, w)):
        want = chain(x, w)
        assert got[0].dtype == torch.float32 and got[0].shape == ()
        assert torch.allclose(got[0], want[0].float(), atol=1e-5)
        assert torch.allclose(got[1], want[1].float(), atol=1e-5)
    assert manual.plan.cuts == [(2, cnot12)]


def test_wirecut_marks_in_the_circuit():
    dev = qml.device("default.qubit", wires=5)

    @qml.qnode(dev, interface="torch")
    def marked(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(5))
        qml.CNOT(wires=[0, 1])
        qml.CNOT(wires=[1, 2])
        qml.WireCut(wires=2)
        qml.CNOT(wires=[2, 3])
        qml.CNOT(wires=[3, 4])
        qml.RY(weights[0], wires=4)
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(4))

    x = torch.rand(6, 5, dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, dtype=torch.float64, requires_grad=True)
    plan = _check(marked, 3, x, w, n_cuts=1)
    assert plan.cuts[0][0] == 2 and sorted(f.width for f in plan.fragments) == [3, 3]


def test_cut_layer_trains_and_keeps_leading_dims():
    qnode, shapes = build_qnode(6, "angle", "strongly_entangling", depth=1, measurement="Z")
    torch.manual_seed(0)
    layer = CutLayer(qnode, shapes, max_qubits=4)
    x = torch.rand(2, 3, 6)
    y = layer(x)
    assert y.shape == (2, 3, 6)
    assert layer.plan is not None and layer.plan.max_width <= 4
    y.sum().backward()
    assert layer.weights.grad is not None and torch.isfinite(layer.weights.grad).all()
    ref = qnode(x.reshape(-1, 6).double(), layer.weights.detach().double())
    assert torch.allclose(y.reshape(-1, 6).double(), torch.stack(ref, -1), atol=1e-5)


def test_infeasible_split_names_the_narrowest_width():
    qnode, shapes = build_qnode(6, "angle", "strongly_entangling", depth=2, measurement="Z")
    x = torch.rand(2, 6, dtype=torch.float64)
    w = torch.rand(shapes["weights"], dtype=torch.float64)
    with pytest.raises(CutError, match=r"cannot be split into fragments of at most 2 qubits "
                                       r"with 1 or fewer cuts: the narrowest split found is "
                                       r"\d qubits wide"):
        split(qnode, 2, max_cuts=1)(x, w)


def test_bad_cuts_and_measurements_are_named():
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs):
        qml.RY(inputs[..., 0], wires=0)
        qml.CNOT(wires=[0, 1])
        qml.CNOT(wires=[1, 2])
        return qml.var(qml.PauliZ(2))

    x = torch.rand(2, 3, dtype=torch.float64)
    with pytest.raises(CutError, match="supports expval of Pauli words"):
        split(circuit, 2)(x)
    with pytest.raises(CutError, match=r"cut \(2, 0\): operation 0 must act on wire 2"):
        split(circuit, 2, cuts=[(2, 0)])(x)


def test_find_cuts_prefers_fewest_cuts():
    # a 4-qubit chain: one cut in the middle gives two 2-qubit fragments
    op_wires = [[0, 1], [1, 2], [2, 3]]
    assert find_cuts(op_wires, [0, 1, 2, 3], 3) in ([(1, 0)], [(2, 1)])
    assert find_cuts(op_wires, [0, 1, 2, 3], 4) == []


def test_random_nine_qubit_circuit_with_two_cuts():
    gen = torch.Generator().manual_seed(7)
    blocks = [(0, 3), (3, 6), (6, 9)]
    gates = []
    for _ in range(36):
        lo, hi = blocks[int(torch.randint(0, 3, (1,), generator=gen))]
        a = int(torch.randint(lo, hi, (1,), generator=gen))
        gates.append((int(torch.randint(0, 3, (1,), generator=gen)), a, lo + (a - lo + 1) % 3))
    dev = qml.device("default.qubit", wires=9)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(9), rotation="X")
        for k, (kind, a, b) in enumerate(gates):
            if kind == 0:
                qml.RY(weights[k], wires=a)
            elif kind == 1:
                qml.CNOT(wires=[a, b])
            else:
                qml.IsingZZ(weights[k], wires=[a, b])
        qml.CNOT(wires=[2, 3])  # the two bridges between the blocks
        qml.CRY(weights[0], wires=[5, 6])
        return (qml.expval(qml.PauliZ(0) @ qml.PauliY(4) @ qml.PauliZ(8)),
                qml.expval(qml.PauliX(3)), qml.probs(wires=[2, 6]))

    x = torch.rand(3, 9, dtype=torch.float64, requires_grad=True)
    w = torch.rand(len(gates), dtype=torch.float64, requires_grad=True)
    plan = _check(circuit, 4, x, w, n_cuts=2)
    assert len(plan.fragments) == 3

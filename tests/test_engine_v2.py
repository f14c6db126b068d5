"""Engine v2: compile once and replay, strict mode, memory guard, float64 exactness."""

from __future__ import annotations

import logging

import numpy as np
import pennylane as qml
import pytest
import torch
from test_engine import compare

from qclf.quantum import (
    MemoryLimitExceeded,
    PlanCache,
    StrictModeError,
    TorchLayer,
    simulate,
)
from qclf.quantum import torch_layer as torch_layer_module


def _dev(n):
    return qml.device("default.qubit", wires=n)


def _sel_qnode(n=4, embedding="angle"):
    @qml.qnode(_dev(n), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        if embedding == "iqp":
            qml.IQPEmbedding(inputs, wires=range(n))
        else:
            qml.AngleEmbedding(inputs, wires=range(n), rotation="X")
        qml.StronglyEntanglingLayers(weights, wires=range(n))
        return [qml.expval(qml.PauliZ(w)) for w in range(n)]

    return circuit, {"weights": (2, n, 3)}


def _qaoa_qnode(n=4):
    @qml.qnode(_dev(n), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.QAOAEmbedding(inputs, weights, wires=range(n))
        return [qml.expval(qml.PauliX(w)) for w in range(n)]

    return circuit, {"weights": qml.QAOAEmbedding.shape(2, n)}


def _random_layers_qnode(n=4):
    @qml.qnode(_dev(n), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n))
        qml.RandomLayers(weights, wires=range(n), seed=7)
        return qml.probs(wires=[0, 2])

    return circuit, {"weights": (2, 6)}


# ------------------------------------------------------------------ compile once, replay


def test_plan_compiled_once_and_replayed_with_new_tensors():
    qnode, ws = _sel_qnode()
    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(qnode, ws)
    new = TorchLayer(qnode, ws)
    new.load_state_dict(ref.state_dict())
    opt = torch.optim.SGD(new.parameters(), lr=0.5)
    for step, batch in enumerate([5, 5, 7, 1]):  # batch size is not part of the structure
        x = torch.rand(batch, 4, dtype=torch.float64) * (step + 1)
        ref.load_state_dict(new.state_dict())
        ya, yb = ref(x), new(x)
        np.testing.assert_allclose(yb.detach().numpy(), ya.detach().numpy(), atol=1e-10)
        opt.zero_grad()
        yb.sum().backward()
        opt.step()
    assert new.plans.compiles == 1 and len(new.plans) == 1
    new(torch.rand(4, dtype=torch.float64))  # unbatched input: another structure
    new(torch.rand(3, 4, dtype=torch.float32))  # another dtype: another plan
    assert new.plans.compiles == 3


def test_plan_cache_is_bounded_and_clearable():
    cache = PlanCache(max_plans=2)
    for n_ops in (1, 2, 3):
        ops = [qml.RY(torch.tensor(0.1 * k), wires=0) for k in range(n_ops)]
        (val,) = simulate(ops, [qml.expval(qml.PauliZ(0))], cache=cache)
        assert val.item() == pytest.approx(np.cos(0.1 * sum(range(n_ops))))
    assert cache.compiles == 3 and len(cache) == 2
    cache.clear()
    assert len(cache) == 0


def test_simulate_with_cache_replays_tapes():
    cache = PlanCache()
    for theta in (0.3, 1.1):
        x = torch.tensor([theta, 2 * theta], dtype=torch.float64)
        tape = qml.tape.QuantumScript(
            [qml.RX(x, 0), qml.CNOT([0, 1]), qml.CRZ(0.4, [1, 0]), qml.IsingXX(x, [0, 1])],
            [qml.expval(qml.PauliY(0)), qml.probs(wires=[1])],
        )
        got = simulate(tape, cache=cache)
        want = qml.devices.qubit.simulate(tape)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g.numpy(), np.asarray(w), atol=1e-12)
    assert cache.compiles == 1


class _DoubledAngles(qml.operation.Operation):
    """A template whose gate angles are computed from its data (2 x), not views of it."""

    grad_method = None

    def __init__(self, features, wires, id=None):
        super().__init__(features, wires=wires, id=id)

    @staticmethod
    def compute_decomposition(features, wires):
        return [qml.RY(2 * features[..., i], wires=w) for i, w in enumerate(wires)]


def test_value_dependent_templates_are_decomposed_per_call():
    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        _DoubledAngles(inputs, wires=range(3))
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        return [qml.expval(qml.PauliZ(w)) for w in range(3)]

    ws = {"weights": (1, 3, 3)}
    layer = TorchLayer(circuit, ws, strict=True)
    x = torch.rand(2, 3, dtype=torch.float64)
    layer(x)
    (plan,) = layer.plans._plans.values()
    assert plan.has_dynamic  # 2 x features: decomposed again at every call
    compare(circuit, ws, x)


def test_products_of_features_and_views_are_slots():
    for embedding in ("iqp", "angle"):  # IQP's MultiRZ angles are products x_i x_j
        qnode, ws = _sel_qnode(embedding=embedding)
        layer = TorchLayer(qnode, ws)
        layer(torch.rand(2, 4, dtype=torch.float64))
        (plan,) = layer.plans._plans.values()
        assert not plan.has_dynamic, embedding
        if embedding == "iqp":
            assert any(g.srcs and g.srcs[0][0] == "bb" for g in plan.items)


# ------------------------------------------------------------------------- exactness


@pytest.mark.parametrize(
    "build", [_sel_qnode, lambda: _sel_qnode(embedding="iqp"), _qaoa_qnode, _random_layers_qnode]
)
@pytest.mark.parametrize("batch", [1, 6, 80])
def test_templates_float64_to_1e10(build, batch):
    qnode, ws = build()
    x = torch.rand(batch, 4, generator=torch.Generator().manual_seed(batch))
    compare(qnode, ws, x[0] if batch == 1 else x, dtype=torch.float64, tol=1e-10, gtol=1e-10)


@pytest.mark.parametrize("build", [_sel_qnode, _qaoa_qnode, _random_layers_qnode])
def test_templates_float32(build):
    qnode, ws = build()
    compare(qnode, ws, torch.rand(300, 4), dtype=torch.float32)


def test_large_batch_float32_weight_gradient_accumulates_accurately():
    """A weight gradient summed over 20,000 circuits stays within 1e-6 relative of float64."""
    qnode, ws = _sel_qnode()
    torch.manual_seed(0)
    a, b = TorchLayer(qnode, ws), TorchLayer(qnode, ws)
    b.load_state_dict(a.state_dict())
    b.double()
    x = torch.rand(20_000, 4, generator=torch.Generator().manual_seed(0))
    a(x).sum().backward()
    b(x.double()).sum().backward()
    g32, g64 = a.weights.grad.double(), b.weights.grad
    assert (g32 - g64).abs().max() <= 1e-6 * g64.abs().max()


# ------------------------------------------------------------------------------ strict


def _mid_circuit_qnode():
    @qml.qnode(_dev(2), interface="torch", diff_method="backprop")
    def circuit(inputs, w):
        qml.RY(inputs[..., 0], 0)
        m = qml.measure(0)
        qml.cond(m, qml.RX)(w, wires=1)
        return qml.expval(qml.PauliZ(1))

    return circuit, {"w": 1}


def test_strict_mode_raises_instead_of_falling_back(monkeypatch):
    qnode, ws = _mid_circuit_qnode()
    layer = TorchLayer(qnode, ws, strict=True)
    with pytest.raises(StrictModeError, match="strict=False"):
        layer(torch.rand(3, 1))
    monkeypatch.setenv("QCLF_STRICT", "1")
    assert TorchLayer(qnode, ws).strict
    monkeypatch.setenv("QCLF_STRICT", "0")
    lax = TorchLayer(qnode, ws)
    assert not lax.strict
    assert lax(torch.rand(3, 1)).shape == (3,) and not lax.compiled
    dev = qml.device("default.mixed", wires=1)
    with pytest.raises(StrictModeError, match="default.mixed"):
        TorchLayer(qml.QNode(lambda inputs: qml.expval(qml.PauliZ(0)), dev), {}, strict=True)


def test_engine_error_is_logged_as_a_bug_and_layer_stays_compiled(monkeypatch, caplog):
    qnode, ws = _sel_qnode()
    layer = TorchLayer(qnode, ws, strict=False)
    ref = qml.qnn.TorchLayer(qnode, ws)
    ref.load_state_dict(layer.state_dict())

    def broken(plan, ops, **kw):
        raise IndexError("simulated engine bug")

    monkeypatch.setattr(torch_layer_module, "run_plan", broken)
    x = torch.rand(3, 4, dtype=torch.float64)
    with caplog.at_level(logging.ERROR, logger="qclf.quantum"):
        y = layer(x)
    torch.testing.assert_close(y, ref(x))
    assert layer.compiled and layer.fallback_reason is None
    assert any("engine bug" in r.message for r in caplog.records)
    strict = TorchLayer(qnode, ws, strict=True)
    with pytest.raises(IndexError, match="simulated engine bug"):
        strict(x)


# ------------------------------------------------------------------------ memory guard


def test_memory_guard_refuses_before_allocating(monkeypatch):
    @qml.qnode(qml.device("default.qubit", wires=30), interface="torch")
    def circuit(inputs):
        qml.AngleEmbedding(inputs, wires=range(30))
        return qml.expval(qml.PauliZ(0))

    layer = TorchLayer(circuit, {})
    with pytest.raises(MemoryLimitExceeded, match=r"30 qubits x batch 4 .*QCLF_MEMORY_LIMIT"):
        layer(torch.rand(4, 30))
    qnode, ws = _sel_qnode()
    monkeypatch.setenv("QCLF_MEMORY_LIMIT", "64K")
    with pytest.raises(MemoryLimitExceeded, match="4 qubits x batch 1000"):
        TorchLayer(qnode, ws)(torch.rand(1000, 4))
    assert TorchLayer(qnode, ws)(torch.rand(10, 4)).shape == (10, 4)
    monkeypatch.setenv("QCLF_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="QCLF_MEMORY_LIMIT"):
        TorchLayer(qnode, ws)(torch.rand(10, 4))


# ------------------------------------------------------------------------------- shots


def _shot_layers(shots, measure_var=False):
    def body(inputs, w):
        qml.AngleEmbedding(inputs, wires=range(3))
        qml.StronglyEntanglingLayers(w, wires=range(3))
        out = [qml.expval(qml.PauliZ(0)), qml.expval(qml.PauliX(1) @ qml.PauliY(2)),
               qml.probs(wires=[2, 0]),
               qml.expval(qml.Hermitian(np.array([[1, 0.5], [0.5, -1]]), wires=1))]  # fmt: skip
        return out + [qml.var(qml.PauliX(0))] if measure_var else out

    dev = qml.device("default.qubit", wires=3)
    noisy = qml.set_shots(qml.QNode(body, dev, interface="torch", diff_method="parameter-shift"),
                          shots=shots)  # fmt: skip
    exact = qml.QNode(body, dev, interface="torch", diff_method="backprop")
    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(exact, {"w": (1, 3, 3)})
    new = TorchLayer(noisy, {"w": (1, 3, 3)})
    new.load_state_dict(ref.state_dict())
    return ref, new


def test_shots_sampled_estimates_and_parameter_shift_gradients():
    ref, new = _shot_layers(40_000)
    x = torch.rand(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = ref(xa), new(xb)
    assert new.compiled and yb.shape == ya.shape == (3, 7)
    # 5 sigma of a +-1 mean over 40,000 shots is 0.025 (the Hermitian's eigenvalues: +-1.12)
    assert (ya - yb).abs().max() < 0.03
    assert not torch.equal(ya, yb)  # sampled, not exact
    ya.sum().backward()
    yb.sum().backward()
    assert (xa.grad - xb.grad).abs().max() < 0.06
    assert (ref.w.grad - new.w.grad).abs().max() < 0.06
    torch.manual_seed(5)
    y1 = new(x)
    torch.manual_seed(5)
    assert torch.equal(y1, new(x))  # seeded by torch's generator
    assert not new.analytic and TorchLayer(ref.qnode, {"w": (1, 3, 3)}).analytic
    with pytest.raises(RuntimeError, match="finite-shot.*shots=None"):  # second derivatives
        torch.autograd.grad(new(x.clone().requires_grad_(True)).sum(), new.w, create_graph=True)


def test_shots_with_var_fall_back_or_raise_in_strict_mode():
    ref, new = _shot_layers(100, measure_var=True)
    with pytest.raises(StrictModeError, match="var"):
        TorchLayer(new.qnode, {"w": (1, 3, 3)}, strict=True)(torch.rand(2, 3))
    lax = TorchLayer(new.qnode, {"w": (1, 3, 3)}, strict=False)
    assert lax(torch.rand(2, 3)).shape == (2, 8) and not lax.compiled


def test_copied_layer_starts_with_an_empty_plan_cache():
    import copy
    import pickle

    qnode, ws = _sel_qnode()
    layer = TorchLayer(qnode, ws)
    x = torch.rand(3, 4, dtype=torch.float64)
    y = layer(x)
    clone = copy.deepcopy(layer)
    assert len(layer.plans) == 1 and len(clone.plans) == 0
    torch.testing.assert_close(clone(x), y)
    assert len(pickle.loads(pickle.dumps(layer.plans))) == 0


def test_diagonal_unitary_from_inputs_on_any_wires():
    """Batched complex diagonals (ReuploadLinear's phase uploads) multiply the state in place."""

    @qml.qnode(_dev(3), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        for w in range(3):
            qml.Hadamard(w)
        qml.DiagonalQubitUnitary(torch.exp(1j * inputs), wires=[2, 0])
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        qml.DiagonalQubitUnitary(torch.exp(-0.5j * inputs), wires=[0, 1])
        return [qml.expval(qml.PauliZ(0) @ qml.PauliZ(2)), qml.probs(wires=[1])]

    compare(circuit, {"weights": (1, 3, 3)}, torch.rand(5, 4) * 3, tol=1e-10, gtol=1e-10)


def test_shot_vector_gives_one_result_per_partition():
    ref, new = _shot_layers([20_000, (30_000, 2)])
    x = torch.rand(4, 3, dtype=torch.float64)
    y = new(x)
    assert new.compiled and y.shape == (3, 4, 7)
    exact = ref(x)
    for part in y:
        assert (part - exact).abs().max() < 0.03
    assert not torch.equal(y[1], y[2])  # independent samples per partition

"""``TorchLayer(compile=True)``: the small-register program through ``torch.compile``.

Compiling takes seconds per circuit and batch size, so these tests share two small layers and
keep to a handful of compiles. They need a C++ compiler (inductor's CPU backend)."""

from __future__ import annotations

import logging
import shutil

import pennylane as qml
import pytest
import torch
from engine_checks import layer_pair

from qclf.quantum import TorchLayer
from qclf.quantum.engine.compiled import CompiledProgram

needs_compiler = pytest.mark.skipif(
    not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
    reason="torch.compile's CPU backend needs a C++ compiler",
)


def _qaoa_qnode(n=3):
    """Data phases after the product state, complex amplitudes, an X-basis readout."""

    @qml.qnode(qml.device("default.qubit", wires=n), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.QAOAEmbedding(inputs, weights, wires=range(n))
        return [qml.expval(qml.PauliX(w)) for w in range(n)]

    return circuit, {"weights": qml.QAOAEmbedding.shape(2, n)}


def _real_qnode(n=3):
    """RY layers and CNOTs only: a real state throughout."""

    @qml.qnode(qml.device("default.qubit", wires=n), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n), rotation="Y")
        qml.BasicEntanglerLayers(weights, wires=range(n), rotation=qml.RY)
        return [qml.expval(qml.PauliZ(w)) for w in range(n)] + [
            qml.expval(qml.PauliZ(0) @ qml.PauliZ(2))
        ]

    return circuit, {"weights": (2, n)}


def _pair(make, dtype=torch.float64, seed=0):
    return layer_pair(*make(), dtype, seed, compile=True)


def _values_and_grads(layer, x):
    layer.zero_grad(set_to_none=True)
    xi = x.detach().clone().requires_grad_(True)
    y = layer(xi)
    (y * torch.linspace(0.5, 1.5, y.shape[-1], dtype=y.dtype)).sum().backward()
    return y.detach(), xi.grad, {k: p.grad for k, p in layer.named_parameters()}


def _assert_same(ref, layer, x, tol):
    y0, gx0, gw0 = _values_and_grads(ref, x)
    y1, gx1, gw1 = _values_and_grads(layer, x)
    assert y1.shape == y0.shape and y1.dtype == y0.dtype
    torch.testing.assert_close(y1, y0, atol=tol, rtol=0)
    torch.testing.assert_close(gx1, gx0, atol=tol, rtol=0)
    for k, g in gw0.items():
        torch.testing.assert_close(gw1[k], g, atol=tol, rtol=0)


def _programs(layer) -> list:
    return [p.consts.get("compiled") for p in layer.plans._plans.values()]


@needs_compiler
@pytest.mark.parametrize("make", [_qaoa_qnode, _real_qnode], ids=["complex", "real"])
def test_compiled_equals_pennylane_in_float64(make):
    """Values and gradients (inputs and weights) within 1e-10 of PennyLane's layer, at a batch
    applying the moments one by one (4), one multiplying them into one matrix (2 x 2**n = 16
    and more: 40) and one unbatched call, all on the compiled program."""
    ref, layer = _pair(make)
    gen = torch.Generator().manual_seed(1)
    for shape in ((4, 3), (40, 3), (3,)):
        x = torch.rand(*shape, generator=gen, dtype=torch.float64) * 3
        _assert_same(ref, layer, x, 1e-10)
    programs = _programs(layer)
    assert len(programs) == 2  # batched and unbatched plans
    assert all(isinstance(p, CompiledProgram) and not p.failed for p in programs)
    # the compiled backward gives first derivatives only: create_graph says so by name
    xi = torch.rand(4, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
    with pytest.raises(RuntimeError, match="first derivatives only.*compile=False"):
        torch.autograd.grad(layer(xi).sum(), xi, create_graph=True)


@needs_compiler
def test_compiled_float32_close_to_pennylane():
    ref, layer = _pair(_qaoa_qnode, torch.float32)
    x = torch.rand(8, 3, generator=torch.Generator().manual_seed(2))
    _assert_same(ref, layer, x, 2e-5)
    assert isinstance(_programs(layer)[0], CompiledProgram)


def test_circuit_it_cannot_express_runs_as_usual_and_says_so(caplog):
    """Probabilities are not Pauli-word expectations: the engine's usual path, equal to
    PennyLane, with one log line naming the reason (no compiler needed)."""
    n = 3

    @qml.qnode(qml.device("default.qubit", wires=n), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n))
        qml.BasicEntanglerLayers(weights, wires=range(n))
        return qml.probs(wires=[0, 1])

    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(circuit, {"weights": (2, n)}).double()
    layer = TorchLayer(circuit, {"weights": (2, n)}, strict=True, compile=True).double()
    layer.load_state_dict(ref.state_dict())
    x = torch.rand(5, n, dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="qclf.quantum"):
        _assert_same(ref, layer, x, 1e-10)
        _assert_same(ref, layer, x, 1e-10)
    msgs = [r.getMessage() for r in caplog.records if "without torch.compile" in r.getMessage()]
    assert len(msgs) == 1 and "Pauli-word expectations" in msgs[0]
    assert _programs(layer) == [None]
    assert layer.compiled  # still on the engine, not PennyLane


def test_compiler_failure_falls_back_to_the_engine(monkeypatch, caplog):
    """A torch.compile that fails (no compiler, say) leaves a working layer: this call and the
    next run the engine's usual path; one warning with the reason."""

    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler found")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    ref, layer = _pair(_real_qnode)
    x = torch.rand(6, 3, dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="qclf.quantum"):
        _assert_same(ref, layer, x, 1e-10)
        _assert_same(ref, layer, x, 1e-10)
    msgs = [r.getMessage() for r in caplog.records if "torch.compile failed" in r.getMessage()]
    assert len(msgs) == 1 and "no C++ compiler found" in msgs[0]
    (program,) = _programs(layer)
    assert program.failed


@needs_compiler
def test_each_program_has_its_own_recompile_limit():
    """torch.compile allows a number of recompiles per code object; programs of different
    circuits must not share one (else the ninth layer of a process would lose compile)."""
    x = torch.rand(4, 3, dtype=torch.float64)
    with torch._dynamo.config.patch(recompile_limit=1):  # monkeypatch would delete the key
        for make in (_real_qnode, _qaoa_qnode):
            ref, layer = _pair(make)
            _assert_same(ref, layer, x, 1e-10)
            (program,) = _programs(layer)
            assert isinstance(program, CompiledProgram) and not program.failed


def _sel_qnode(n=7):
    @qml.qnode(qml.device("default.qubit", wires=n), interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n), rotation="X")
        qml.StronglyEntanglingLayers(weights, wires=range(n))
        return [qml.expval(qml.PauliZ(w)) for w in range(n - 1)] + [
            qml.expval(qml.PauliY(n - 1) @ qml.PauliZ(0))
        ]

    return circuit, {"weights": (2, n, 3)}


@needs_compiler
def test_block_program_compiled_equals_pennylane():
    """7 qubits: the block program's steps (relabelling gathers, 4-wire blocks, the Y-basis
    readout) compiled, within 1e-10 of PennyLane in float64."""
    ref, layer = _pair(_sel_qnode)
    x = torch.rand(5, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    _assert_same(ref, layer, x, 1e-10)
    (program,) = _programs(layer)
    assert isinstance(program, CompiledProgram) and program.blocks and not program.failed


def test_long_block_program_stays_on_the_fused_program(caplog):
    """The 8-qubit QCNN has more block steps than compiling pays for
    (``thresholds.COMPILED_MAX_BLOCK_STEPS``): usual path, said once, same values."""
    from qclf.circuits import build_qnode, qcnn_readout

    qnode, shapes = build_qnode(8, "hadamard_angle", "qcnn", depth=3, diff_method="backprop",
                                measure_wires=qcnn_readout(range(8), 3))  # fmt: skip
    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(qnode, shapes).double()
    layer = TorchLayer(qnode, shapes, strict=True, compile=True).double()
    layer.load_state_dict(ref.state_dict())
    x = torch.rand(3, 8, dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="qclf.quantum"):
        _assert_same(ref, layer, x, 1e-10)
    assert _programs(layer) == [None]
    assert any("block steps run faster" in r.getMessage() for r in caplog.records)


@needs_compiler
def test_use_compile_turns_it_on_for_every_layer_of_a_model():
    """``use_compile(model)`` sets compile=True on the model's layers: same values and
    gradients as the fused program (float64), now from the compiled one; and off again."""
    from torch import nn

    from qclf.layers.dressed import DressedCircuit
    from qclf.quantum import use_compile

    torch.manual_seed(0)
    model = nn.Sequential(DressedCircuit(6, 2, n_qubits=3, depth=2), nn.Tanh()).double()
    x = torch.rand(5, 6, dtype=torch.float64)

    def run():
        model.zero_grad(set_to_none=True)
        y = model(x)
        y.sum().backward()
        return y.detach(), [p.grad.clone() for p in model.parameters()]

    y0, g0 = run()
    assert use_compile(model) == 1
    y1, g1 = run()
    torch.testing.assert_close(y1, y0, atol=1e-10, rtol=0)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    layer = model[0].circuit
    assert any(isinstance(p, CompiledProgram) and not p.failed for p in _programs(layer))
    assert use_compile(model, enabled=False) == 1 and not layer._qclf_compile

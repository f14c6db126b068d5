"""The small-register program: entry table, fused forward/backward, monomial folding.

Every circuit here must run on the program (a test fails if it silently takes the general
schedule) and agree with PennyLane's own simulator to 1e-10 in float64, values and gradients
with respect to inputs and weights.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pennylane as qml
import pytest
import torch
from engine_checks import (
    assert_same,
    checkpointed_gradients,
    layer_pair,
    penalty_gradients,
    vectorized_jacobians,
)

from qclf.quantum import TorchLayer
from qclf.quantum.engine import PlanCache, simulate, thresholds
from qclf.quantum.engine.dense import DenseProgram
from qclf.quantum.engine.entries import entry_spec
from qclf.quantum.engine.gates import GATES

TOL = 1e-10


def _dense_programs(layer) -> list:
    return [p.consts.get("dense") for p in layer.plans._plans.values()]


def _compare(circuit, weight_shapes, x, seed=0):
    with mock.patch.object(DenseProgram, "final_state", autospec=True,
                           side_effect=DenseProgram.final_state) as used:  # fmt: skip
        new = _compare_values(circuit, weight_shapes, x, seed)
    programs = _dense_programs(new)
    assert programs and all(p is not None for p in programs), "no program compiled"
    assert used.call_count > 0, "general schedule was used"
    return new


def _compare_values(circuit, weight_shapes, x, seed=0):
    ref, new = layer_pair(circuit, weight_shapes, seed=seed)
    x = x.double()
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = ref(xa), new(xb)
    np.testing.assert_allclose(yb.detach().numpy(), ya.detach().numpy(), atol=TOL, rtol=0)
    g = torch.randn(ya.shape, dtype=ya.dtype, generator=torch.Generator().manual_seed(seed))
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    np.testing.assert_allclose(xb.grad.numpy(), xa.grad.numpy(), atol=TOL, rtol=0)
    for name, p in ref.named_parameters():
        q = dict(new.named_parameters())[name]
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), atol=TOL, rtol=0)
    return new


def _qnode(n, body, measure=None):
    dev = qml.device("default.qubit", wires=n)

    def circuit(inputs, weights):
        body(inputs, weights)
        if measure is not None:
            return measure()
        return [qml.expval(qml.PauliZ(w)) for w in range(n)]

    return qml.QNode(circuit, dev, interface="torch", diff_method="backprop")


# ------------------------------------------------------------------------- entry table


@pytest.mark.parametrize("name", sorted(GATES))
def test_entry_spec_equals_the_gate_table_and_pennylane(name):
    k = 3 if name == "MultiRZ" else (2 if name.startswith(("C", "Ising")) else 1)
    spec = entry_spec(name, k)
    assert spec is not None
    scale, a, a0, b, b0 = spec
    rng = np.random.default_rng(1)
    theta = rng.uniform(-4, 4, size=a.shape[0])
    entries = scale * np.cos(theta @ a + a0) * np.exp(1j * (theta @ b + b0))
    op = getattr(qml, name)(*theta, wires=range(k))
    np.testing.assert_allclose(entries.reshape(1 << k, 1 << k), qml.matrix(op), atol=1e-12)
    built = GATES[name].build([torch.tensor(t) for t in theta], k, torch.complex128)
    np.testing.assert_allclose(entries.reshape(1 << k, 1 << k), built.numpy(), atol=1e-12)


# ------------------------------------------------------------------ circuits on the program


def _sel(inputs, weights, rotation="X"):
    n = weights.shape[1]
    qml.AngleEmbedding(inputs, wires=range(n), rotation=rotation)
    qml.StronglyEntanglingLayers(weights, wires=range(n))


@pytest.mark.parametrize("batch", [None, 1, 5, 40])
@pytest.mark.parametrize("rotation", ["X", "Y", "Z"])
def test_strongly_entangling_on_the_program(batch, rotation):
    n = 4
    shape = (n,) if batch is None else (batch, n)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(2)) * 3
    _compare(_qnode(n, lambda i, w: _sel(i, w, rotation)), {"weights": (2, n, 3)}, x)


def test_batched_gates_of_every_rotation_form_on_the_program():
    """Batched controlled, Ising, Rot/U3, PhaseShift and MultiRZ gates: frames and phases."""
    n = 4

    def body(inputs, weights):
        qml.Hadamard(0)
        qml.RY(inputs[..., 0], wires=1)
        qml.CRX(inputs[..., 1], wires=[0, 2])
        qml.IsingXX(inputs[..., 2], wires=[1, 3])
        qml.Rot(inputs[..., 0], inputs[..., 3], inputs[..., 1], wires=2)
        qml.CNOT(wires=[2, 0])
        qml.U3(inputs[..., 2], weights[0], inputs[..., 3], wires=3)
        qml.PhaseShift(inputs[..., 1], wires=0)
        qml.MultiRZ(inputs[..., 0], wires=[0, 1, 3])
        qml.CRY(weights[1], wires=[3, 1])
        qml.IsingYY(inputs[..., 3], wires=[0, 3])
        qml.CRot(inputs[..., 1], weights[2], inputs[..., 2], wires=[1, 2])
        qml.ControlledPhaseShift(inputs[..., 0], wires=[2, 3])
        qml.S(1)
        qml.CZ(wires=[1, 2])

    measure = lambda: [qml.expval(qml.PauliX(0)), qml.expval(qml.PauliY(1) @ qml.PauliZ(3)),  # noqa: E731
                       qml.var(qml.PauliZ(2)), qml.probs(wires=[3, 1])]  # fmt: skip
    x = torch.rand(6, 4, generator=torch.Generator().manual_seed(3)) * 4
    _compare(_qnode(n, body, measure), {"weights": (3,)}, x)


def _template(template: str, n: int):
    """(quantum-function body, weight shape) of a template circuit on ``n`` wires."""

    def body(inputs, weights):
        if template == "sel":
            qml.AngleEmbedding(inputs, wires=range(n), rotation="Y")
            qml.StronglyEntanglingLayers(weights, wires=range(n))
        elif template == "qaoa":
            qml.QAOAEmbedding(inputs, weights, wires=range(n))
        elif template == "random":
            qml.AngleEmbedding(inputs, wires=range(n))
            qml.RandomLayers(weights, wires=range(n), seed=n)
        elif template == "basic":
            qml.AngleEmbedding(inputs, wires=range(n), rotation="Y")
            qml.BasicEntanglerLayers(weights, wires=range(n))
        else:
            qml.IQPEmbedding(inputs, wires=range(n))
            qml.BasicEntanglerLayers(weights, wires=range(n))

    if template == "excitation":  # a gate outside the entry table, on 3 wires
        return _excitation, (2,)
    shapes = {"sel": (2, n, 3), "qaoa": qml.QAOAEmbedding.shape(2, n), "random": (2, 8),
              "basic": (3, n), "iqp": (2, n)}  # fmt: skip
    return body, shapes[template]


@pytest.mark.parametrize("template", ["qaoa", "random", "basic"])
def test_templates_on_the_program(template):
    n = 5
    body, shape = _template(template, n)
    x = torch.rand(9, n, generator=torch.Generator().manual_seed(4)) * 3
    _compare(_qnode(n, body), {"weights": shape}, x)


@pytest.mark.parametrize("batch", [5, 131])  # moments applied one by one / multiplied first
def test_sparse_moments_gather_only_their_nonzero_entries(batch):
    """The benchmark's RandomLayers (6 qubits, 3 x 12 rotations) runs on the program; its
    moments (a few gates each) gather only their structurally nonzero entries, exactly the
    nonzeros of the moment matrices, and no gather slot takes only the entry 1."""
    n = 6

    def body(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n), rotation="X")
        qml.RandomLayers(weights, wires=range(n), seed=42)

    x = torch.rand(batch, n, generator=torch.Generator().manual_seed(6)) * 3
    qnode = _qnode(n, body)
    layer = _compare(qnode, {"weights": (3, 12)}, x)
    (plan,) = layer.plans._plans.values()
    prog = plan.consts["dense"]
    (unitary,) = [u for u, _ in prog.segments if u.index is not None]
    assert unitary.positions is not None and unitary.index.dim() == 2
    assert bool((unitary.index != unitary.one).any(1).all()), "a slot gathers only the entry 1"
    from qclf.quantum.engine.bind import Bound

    w = torch.rand(3, 12, dtype=torch.float64) * 6
    tape = qml.workflow.construct_tape(qnode)(x.double(), w)
    mats = [m for k, m in zip([k for k, _ in unitary.factors],
                              unitary.matrices(Bound(plan, tape.operations)), strict=True)
            if k == "moment"]  # fmt: skip
    nonzero = sum(int((m != 0).sum()) for m in mats)
    assert nonzero == unitary.positions.numel() < 0.2 * len(mats) * 4**n


def test_permutations_and_phases_fold_into_the_moments():
    """A CNOT ring and S^dagger (the first RX's) cost no factor of their own."""
    n = 5
    layer = _compare(_qnode(n, _sel), {"weights": (3, n, 3)}, torch.rand(7, n))
    (prog,) = _dense_programs(layer)
    kinds = [k for unitary, _ in prog.segments for k, _ in unitary.factors]
    assert kinds == ["moment"] * 3


def test_fused_backward_equals_autograd_of_the_same_program():
    """The hand-written backward against autograd through the same steps (float64)."""
    n = 4
    qnode = _qnode(n, lambda i, w: (qml.AngleEmbedding(i, wires=range(n)),
                                    qml.StronglyEntanglingLayers(w, wires=range(n)),
                                    qml.CRZ(i[..., 1], wires=[0, 3])))  # fmt: skip
    x = torch.rand(3, n, dtype=torch.float64, requires_grad=True)
    w = torch.rand(2, n, 3, dtype=torch.float64, requires_grad=True)
    tape = qml.workflow.construct_tape(qnode)(x, w)
    cache = PlanCache()
    simulate(tape, cache=cache)
    (plan,) = cache._plans.values()
    prog = plan.consts["dense"]
    assert isinstance(prog, DenseProgram) and prog.fusable
    from qclf.quantum.engine.bind import Bound

    def state(x, w, fused):
        t = qml.workflow.construct_tape(qnode)(x, w)
        b = Bound(plan, t.operations)
        psi = prog.final_state(b) if fused else prog.final_state_autograd(b)
        return torch.view_as_real(psi.to(torch.complex128))

    g = torch.randn(3, 1 << n, 2, dtype=torch.float64)
    grads = []
    for fused in (True, False):
        gx, gw = torch.autograd.grad((state(x, w, fused) * g).sum(), (x, w))
        grads.append((gx, gw))
    np.testing.assert_allclose(grads[0][0], grads[1][0], atol=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], atol=1e-12)


@pytest.mark.parametrize("n", [3, 7])
def test_constant_gates_before_the_encoding_join_the_product_state(n):
    """H then RY (the QCNN's hadamard_angle), S then RX, T then H then RY: still a product
    state of the encodings, with no batched phases left."""

    def body(inputs, weights):
        for w in range(n):
            if w % 3 == 0:
                qml.Hadamard(wires=w)
                qml.RY(inputs[..., w], wires=w)
            elif w % 3 == 1:
                qml.S(wires=w)
                qml.RX(inputs[..., w], wires=w)
            else:
                qml.T(wires=w)
                qml.Hadamard(wires=w)
                qml.RY(inputs[..., w], wires=w)
        qml.BasicEntanglerLayers(weights, wires=range(n))

    x = torch.rand(5, n, generator=torch.Generator().manual_seed(9)) * 3
    layer = _compare(_qnode(n, body), {"weights": (2, n)}, x)
    (prog,) = _dense_programs(layer)
    assert prog.prep_wire_list == list(range(n)) and not prog.has_phases


def _node(out, name):
    todo = [out.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and type(node).__name__ == name:
            return node
        todo.extend(f for f, _ in (node.next_functions if node is not None else ()))
    raise AssertionError(f"no {name} in the graph")


@pytest.mark.parametrize("n", [5, 8, 9])  # whole register, blocks, blocks + wire gates
def test_retained_graph_runs_the_backward_twice_and_a_freed_one_raises(n):
    """As with PennyLane's layer: ``backward(retain_graph=True)`` then ``backward()`` adds
    the gradients twice; a third backward raises autograd's own error; after a backward
    without ``retain_graph`` the program's tape of states is released (no leak when the
    output is kept), after a retained one it is kept."""
    ref, new = layer_pair(_qnode(n, _sel), {"weights": (2, n, 3)})
    x = torch.rand(6, n, generator=torch.Generator().manual_seed(2)).double()
    ref(x).sum().backward()
    y = new(x).sum()
    node = _node(y, "FusedProgramBackward")
    y.backward(retain_graph=True)
    assert node.tape is not None
    y.backward()
    np.testing.assert_allclose(new.weights.grad.numpy(), 2 * ref.weights.grad.numpy(),
                               atol=TOL, rtol=0)  # fmt: skip
    assert node.tape is None
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def _excitation(inputs, weights):  # SingleExcitation: outside the entry table (GatherProd)
    qml.AngleEmbedding(inputs, wires=range(3))
    qml.SingleExcitation(weights[0], wires=[0, 2])
    qml.RY(weights[1], wires=1)
    qml.CNOT(wires=[1, 2])


@pytest.mark.parametrize("n, template", [(5, "sel"), (4, "iqp"), (4, "qaoa"), (8, "sel"),
                                         (9, "sel"), (3, "excitation")])  # fmt: skip
def test_second_derivatives_equal_pennylane(n, template):
    """Under ``create_graph=True`` the backward is itself differentiable: gradients of a
    function of the gradients (a gradient penalty, Hessian-vector products) with respect to
    inputs and weights equal PennyLane's, on the whole-register program (SEL, IQP's phases
    of feature pairs, QAOA's re-uploading), the block program (8 qubits), the wire gates (9)
    and the autograd program (a gate outside the entry table)."""
    body, shape = _template(template, n)
    ref, new = layer_pair(_qnode(n, body), {"weights": shape})
    x = torch.rand(5, n, generator=torch.Generator().manual_seed(1)).double() * 2
    assert_same(penalty_gradients, ref, new, x, 1e-9)
    assert all(p is not None for p in _dense_programs(new))


@pytest.mark.parametrize("n, template", [(5, "qaoa"), (8, "sel"), (3, "excitation")])
def test_vectorized_jacobians_equal_pennylane(n, template):
    """``torch.autograd.functional.jacobian(..., vectorize=True)`` runs the backward once for a
    batch of output gradients (vmap): the whole-register program, the blocks and the autograd
    program give PennyLane's Jacobians with respect to inputs and weights."""
    body, shape = _template(template, n)
    ref, new = layer_pair(_qnode(n, body), {"weights": shape})
    x = torch.rand(3, n, generator=torch.Generator().manual_seed(1)).double() * 2
    assert_same(vectorized_jacobians, ref, new, x, 1e-10)


@pytest.mark.parametrize("n", [3, 7])
def test_large_batches_take_the_program_only_with_batched_gates_inside(monkeypatch, n):
    """Above the batch ratio a circuit whose only batched gates form the product state runs on
    the general schedule (one fused unitary); IQP's batched phases stay on the program."""
    from qclf.quantum.engine import thresholds

    monkeypatch.setattr(thresholds, "DENSE_MAX_BATCH_RATIO", 1)
    monkeypatch.setattr(thresholds, "PROGRAM_BLOCK_MAX_BATCH_RATIO", 1)
    x = torch.rand((2 << n) + 3, n, generator=torch.Generator().manual_seed(6))
    _compare(_qnode(n, _template("iqp", n)[0]), {"weights": (2, n)}, x)
    with mock.patch.object(DenseProgram, "final_state", autospec=True,
                           side_effect=DenseProgram.final_state) as used:  # fmt: skip
        _compare_values(_qnode(n, _sel), {"weights": (2, n, 3)}, x)
    assert used.call_count == 0


def test_wide_circuits_use_the_general_schedule():
    from qclf.quantum.engine import thresholds

    n = thresholds.PROGRAM_MAX_WIRES + 1
    layer = TorchLayer(_qnode(n, _sel), {"weights": (1, n, 3)}, strict=True)
    layer(torch.rand(2, n))
    assert _dense_programs(layer) == [None]


def test_gates_without_closed_form_entries_run_on_the_autograd_program():
    """A parametrised gate outside the entry table (SingleExcitation) is built by its own
    matrix; the program then runs under autograd instead of the fused backward."""
    n = 3

    def body(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n))
        qml.SingleExcitation(weights[0], wires=[0, 2])
        qml.Rot(weights[1], 0.3, weights[2], wires=1)  # a constant parameter: built alone
        qml.CNOT(wires=[1, 2])

    layer = _compare(_qnode(n, body), {"weights": (3,)}, torch.rand(4, n))
    (prog,) = _dense_programs(layer)
    assert not prog.fusable


def test_sparse_moments_on_the_autograd_program():
    """Sparse moments (a few gates on 6 wires) with a gate outside the entry table: the
    gathered nonzero entries are scattered under autograd."""
    n = 6

    def body(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n))
        qml.SingleExcitation(weights[0], wires=[0, 4])
        qml.CNOT(wires=[2, 5])
        qml.RY(weights[1], wires=3)
        qml.CRX(weights[2], wires=[5, 1])
        qml.RZ(weights[1], wires=2)

    layer = _compare(_qnode(n, body), {"weights": (3,)}, torch.rand(4, n) * 3)
    (prog,) = _dense_programs(layer)
    assert not prog.fusable
    assert any(u.positions is not None for u, _ in prog.segments)


def test_direct_binding_replays_without_recording_the_function(monkeypatch):
    n = 4
    torch.manual_seed(0)
    qnode = _qnode(n, _sel)
    ref = qml.qnn.TorchLayer(qnode, {"weights": (2, n, 3)})
    new = TorchLayer(qnode, {"weights": (2, n, 3)}, strict=True)
    new.load_state_dict(ref.state_dict())
    calls = []
    record = new._record
    monkeypatch.setattr(new, "_record", lambda *a, **k: calls.append(1) or record(*a, **k))
    for step in range(3):
        x = torch.rand(6, n, dtype=torch.float32, generator=torch.Generator().manual_seed(step))
        np.testing.assert_allclose(new(x).detach(), ref(x).detach(), atol=1e-6)
        with torch.no_grad():  # an optimiser step: the weights change in place
            for p, q in zip(ref.parameters(), new.parameters(), strict=True):
                p.add_(0.1)
                q.add_(0.1)
    assert len(calls) == 2  # the first call and its check; later calls bind directly
    assert any(v is not None for v in new.plans.direct.values())


def test_gates_outside_the_entry_table_replay_directly(monkeypatch):
    """A gate built from its own matrix (SingleExcitation) reads its parameters from the
    flat vectors like the table's gates: later calls bind directly and stay exact (they read
    the recorded operations, absent when binding directly, and failed on the second call)."""
    ref, new = layer_pair(_qnode(3, _excitation), {"weights": (2,)})
    calls = []
    record = new._record
    monkeypatch.setattr(new, "_record", lambda *a, **k: calls.append(1) or record(*a, **k))
    for step in range(3):
        x = torch.rand(5, 3, generator=torch.Generator().manual_seed(step)).double()
        np.testing.assert_allclose(new(x).detach(), ref(x).detach(), atol=TOL, rtol=0)
        with torch.no_grad():
            for p, q in zip(ref.parameters(), new.parameters(), strict=True):
                p.add_(0.1)
                q.add_(0.1)
    assert len(calls) == 2  # the first call and its check
    assert not any(p.reads_ops for p in new.plans._plans.values())


@pytest.mark.parametrize("template", ["sel", "iqp"])
def test_first_call_inside_a_non_reentrant_checkpoint(template):
    """``torch.utils.checkpoint(..., use_reentrant=False)`` recomputes the forward in the
    backward and needs it to save the same tensors: a layer's first call (recording,
    compiling, then binding directly or not) saves what its later calls save. Gradients equal
    PennyLane's, for a direct binding (SEL) and a circuit recorded every call (IQP's feature
    products)."""
    n = 3
    body, shape = _template(template, n)
    ref, new = layer_pair(_qnode(n, body), {"weights": shape})
    x = torch.rand(4, n, generator=torch.Generator().manual_seed(3)).double()
    assert_same(checkpointed_gradients, ref, new, x, TOL)


@pytest.mark.parametrize("n", [5, 8])
def test_first_call_under_inference_mode_then_training(n):
    """An evaluation under ``torch.inference_mode()`` before training (the layer's first call)
    leaves nothing behind that a later call under autograd cannot use (cached index tables
    and buffers built in inference mode would be inference tensors): later values and
    gradients equal PennyLane's, in strict mode."""
    body, shape = _template("sel", n)
    ref, new = layer_pair(_qnode(n, body), {"weights": shape})
    x = torch.rand(6, n, generator=torch.Generator().manual_seed(3)).double()
    with torch.inference_mode():
        y0 = new(x)
    np.testing.assert_allclose(y0.numpy(), ref(x).detach().numpy(), atol=TOL, rtol=0)
    for layer in (ref, new):
        layer(x).sum().backward()
    np.testing.assert_allclose(new.weights.grad.numpy(), ref.weights.grad.numpy(), atol=TOL,
                               rtol=0)  # fmt: skip


def test_functions_reading_values_are_recorded_every_call():
    n = 2
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n))
        if weights[0] > 0:  # the circuit depends on a weight's value
            qml.CNOT(wires=[0, 1])
        qml.RY(weights[1], wires=1)
        return [qml.expval(qml.PauliZ(w)) for w in range(n)]

    ref = qml.qnn.TorchLayer(circuit, {"weights": (2,)})
    new = TorchLayer(circuit, {"weights": (2,)}, strict=True)
    x = torch.rand(3, n)
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for layer in (ref, new):
                layer.weights.copy_(torch.tensor([0.7 * sign, 0.4]))
        np.testing.assert_allclose(new(x).detach(), ref(x).detach(), atol=1e-6)
    assert all(v is None for v in new.plans.direct.values())


def test_controlled_gates_compile_once():
    """A controlled gate's base operation (with its angle) is no part of the structure key."""
    n = 3

    def body(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n))
        qml.CRZ(weights[0], wires=[0, 1])
        qml.CRX(weights[1], wires=[1, 2])

    layer = TorchLayer(_qnode(n, body), {"weights": (2,)}, strict=True)
    for step in range(3):
        with torch.no_grad():
            layer.weights.add_(0.5)
        layer(torch.rand(4, n) + step)
    assert layer.plans.compiles == 1


def test_scaled_angle_encodings_bind_directly():
    """``scale * x[..., i]`` (the catalogue's angle encodings) binds without recording."""
    from qclf.circuits import build_qnode

    qnode, ws = build_qnode(4, "angle", "quanv_block", depth=2,
                            encoding_kw={"rotation": "Y", "scale": np.pi},
                            diff_method="backprop")  # fmt: skip
    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(qnode, ws)
    new = TorchLayer(qnode, ws, strict=True)
    new.load_state_dict(ref.state_dict())
    for step in range(3):
        x = torch.rand(5, 4, generator=torch.Generator().manual_seed(step))
        np.testing.assert_allclose(new(x).detach(), ref(x).detach(), atol=1e-6)
    (entry,) = new.plans.direct.values()
    assert entry is not None and entry[1].b_scale is not None


# ---------------------------------------------------------------- wider registers: blocks


@pytest.mark.parametrize("n", [7, 9])
@pytest.mark.parametrize("template", ["sel", "qaoa", "random", "iqp"])
def test_wider_registers_run_the_block_program(n, template):
    body, shape = _template(template, n)
    x = torch.rand(5, n, generator=torch.Generator().manual_seed(n)) * 2
    layer = _compare(_qnode(n, body), {"weights": shape}, x)
    (prog,) = _dense_programs(layer)
    from qclf.quantum.engine.blocks import BlockUnitary

    assert all(isinstance(u, BlockUnitary) for u, _ in prog.segments)
    # SEL's and RandomLayers' first weight rotations on the encoded wires join the product
    # state from WIRE_GATES_MIN_WIRES qubits on (QAOA and IQP start with entanglers)
    folded = n >= thresholds.WIRE_GATES_MIN_WIRES and template in ("sel", "random")
    assert (prog.wire_gates is not None) == folded


def test_wire_gates_fold_chains_of_constants_and_weights(monkeypatch):
    """Chains of several gates (a constant, then weight rotations), a wire with no chain, a
    wire without an encoding, RX encodings (their S^dagger joins the chain), weights shared
    between the chain and later gates, and a chain cut by a two-qubit gate: values and
    gradients (inputs and weights) equal PennyLane's in float64."""
    monkeypatch.setattr(thresholds, "WIRE_GATES_MIN_WIRES", 7)
    n = 7

    def body(inputs, weights):
        qml.Hadamard(1)
        qml.AngleEmbedding(inputs[..., :6], wires=range(6), rotation="X")
        qml.RY(inputs[..., 6], wires=6)
        qml.S(0)
        qml.Rot(weights[0], weights[1], weights[2], wires=0)
        qml.RZ(weights[3], wires=0)
        qml.RX(weights[4], wires=1)
        qml.CNOT(wires=[2, 3])
        qml.RY(weights[5], wires=3)  # after the CNOT: not folded
        qml.PhaseShift(weights[6], wires=4)
        qml.RY(weights[0], wires=5)
        qml.CRX(weights[1], wires=[0, 6])
        qml.IsingXX(weights[2], wires=[1, 4])
        qml.CNOT(wires=[5, 2])
        qml.RX(weights[3], wires=5)

    x = torch.rand(6, n, generator=torch.Generator().manual_seed(7)) * 3
    layer = _compare(_qnode(n, body), {"weights": (7,)}, x)
    (prog,) = _dense_programs(layer)
    assert prog.wire_gates is not None
    folded = [len(c) for c in prog.wire_gates.chains]
    # each RX encoding leaves S^dagger (after H on wire 1: one constant); wire 6 (RY) none
    assert folded == [4, 2, 1, 1, 2, 2, 0]


def test_block_program_from_the_zero_state_and_in_float32_at_large_batch():
    """Weights before the encoding (no product state: the first block acts on |0...0> broadcast
    over the batch) and re-uploaded data (phases: blocks at any batch); float32 weight
    gradients of 2,048 circuits (32,768 terms per block entry) within 2e-6 of float64's."""
    n = 8

    def body(inputs, weights):
        qml.StronglyEntanglingLayers(weights[:1], wires=range(n))
        qml.AngleEmbedding(inputs, wires=range(n))
        qml.StronglyEntanglingLayers(weights[1:], wires=range(n))

    qnode = _qnode(n, body)
    _compare(
        qnode, {"weights": (2, n, 3)}, torch.rand(3, n, generator=torch.Generator().manual_seed(4))
    )
    torch.manual_seed(0)
    f32 = TorchLayer(qnode, {"weights": (2, n, 3)}, strict=True)
    f64 = TorchLayer(qnode, {"weights": (2, n, 3)}, strict=True)
    f64.load_state_dict(f32.state_dict())
    f64.double()
    x = torch.rand(2048, n, generator=torch.Generator().manual_seed(5)) * 3
    f32(x).sum().backward()
    f64(x.double()).sum().backward()
    from qclf.quantum.engine.blocks import BlockUnitary

    assert all(isinstance(u, BlockUnitary) for u, _ in _dense_programs(f32)[0].segments)
    g64 = f64.weights.grad
    err = (f32.weights.grad.double() - g64).abs().max() / g64.abs().max()
    assert err < 2e-6, err


def test_qcnn_and_mixed_gates_on_eight_qubits():
    """Controlled rotations across block boundaries (relabelled state), constant frames,
    X / Y / probability / variance measurements."""
    from qclf.circuits import build_qnode, qcnn_readout

    qnode, ws = build_qnode(8, "hadamard_angle", "qcnn", depth=3, diff_method="backprop",
                            measure_wires=qcnn_readout(range(8), 3))  # fmt: skip
    _compare(qnode, ws, torch.rand(4, 8, generator=torch.Generator().manual_seed(1)))
    n = 8

    def body(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n))
        qml.CRY(weights[0], wires=[7, 0])
        qml.IsingXX(weights[1], wires=[2, 6])
        qml.CRot(weights[2], weights[3], weights[4], wires=[5, 1])
        qml.MultiRZ(weights[5], wires=[0, 3, 7])
        qml.Hadamard(4)
        qml.CRX(inputs[..., 2], wires=[3, 5])
        qml.SWAP(wires=[1, 6])

    measure = lambda: [qml.expval(qml.PauliX(0)), qml.expval(qml.PauliY(6) @ qml.PauliZ(2)),  # noqa: E731
                       qml.var(qml.PauliZ(4)), qml.probs(wires=[5, 1])]  # fmt: skip
    _compare(_qnode(n, body, measure), {"weights": (6,)},
             torch.rand(3, n, generator=torch.Generator().manual_seed(2)))  # fmt: skip


@pytest.mark.parametrize("n", [5, 8, 9])
def test_program_in_float32_matches_pennylane(n):
    """float32 (complex64 states) on the dense (5 qubits) and block (8 qubits; 9 with the
    first rotations folded into the product state) programs."""
    torch.manual_seed(0)
    qnode = _qnode(n, _sel)
    ref = qml.qnn.TorchLayer(qnode, {"weights": (3, n, 3)})
    new = TorchLayer(qnode, {"weights": (3, n, 3)}, strict=True)
    new.load_state_dict(ref.state_dict())
    x = torch.rand(16, n, generator=torch.Generator().manual_seed(3)) * 3
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = ref(xa), new(xb)
    assert yb.dtype == torch.float32
    np.testing.assert_allclose(yb.detach(), ya.detach(), atol=1e-5)
    ya.sum().backward()
    yb.sum().backward()
    np.testing.assert_allclose(xb.grad, xa.grad, atol=1e-4)
    np.testing.assert_allclose(new.weights.grad, ref.weights.grad, atol=1e-4)
    assert _dense_programs(new)[0] is not None

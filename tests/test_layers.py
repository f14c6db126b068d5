"""Quantum layers: shapes, gradients, equivalence with the catalogue QNode, twins."""

from __future__ import annotations

import math

import pennylane as qml
import pytest
import torch
from qclf.circuits import build_qnode
from torch import nn

from qclf.layers import (
    QCNN,
    DressedCircuit,
    ParallelCircuits,
    Quanv2d,
    ReuploadLinear,
    WireCut,
    count_parameters,
)
from qclf.quantum import TorchLayer


def within_10pct(twin: nn.Module, target: int) -> bool:
    return abs(count_parameters(twin)["total"] - target) <= 0.1 * target


# --- count_parameters ------------------------------------------------------------------


def test_count_parameters_splits_quantum_and_classical():
    qnode, shapes = build_qnode(2, "angle", "basic_entangler", depth=3)
    model = nn.Sequential(nn.Linear(4, 2), TorchLayer(qnode, shapes), nn.Linear(2, 3))
    assert count_parameters(model) == {"total": 10 + 6 + 9, "quantum": 6, "classical": 19}


def test_count_parameters_honours_is_quantum_marker_and_frozen_params():
    marked = nn.Linear(3, 3)
    marked.is_quantum = True
    frozen = nn.Linear(3, 1)
    frozen.requires_grad_(False)
    model = nn.Sequential(marked, frozen)
    assert count_parameters(model) == {"total": 12, "quantum": 12, "classical": 0}
    assert count_parameters(model, trainable_only=False)["classical"] == 4


def test_count_parameters_of_plain_pennylane_torchlayer():
    qnode, shapes = build_qnode(2, "angle", "strongly_entangling", depth=1)
    layer = qml.qnn.TorchLayer(qnode, shapes)
    assert count_parameters(layer)["quantum"] == 6


# --- ParallelCircuits ------------------------------------------------------------------


def hqnn_parallel() -> ParallelCircuits:
    return ParallelCircuits(
        in_features=20,
        n_circuits=4,
        n_qubits=5,
        ansatz="strongly_entangling",
        depth=3,
        encoding="angle",
        encoding_kw={"rotation": "X"},
        measurement="Y",
    )


def test_parallel_s1_configuration_counts_and_shapes():
    torch.manual_seed(0)
    layer = hqnn_parallel()
    assert layer.n_quantum_params == 180
    assert count_parameters(layer) == {"total": 180, "quantum": 180, "classical": 0}
    x = torch.rand(3, 2, 20)
    assert layer(x).shape == (3, 2, 20)
    assert layer(torch.rand(20)).shape == (20,)


def test_parallel_equals_each_circuit_on_its_chunk():
    torch.manual_seed(1)
    layer = ParallelCircuits(6, 3, 2, "strongly_entangling", 2, measurement="Y")
    x = torch.rand(4, 6)
    out = layer(x)
    for i, circuit in enumerate(layer.circuits):
        expected = torch.stack(circuit.qnode(x[:, 2 * i : 2 * i + 2], circuit.weights), dim=-1)
        torch.testing.assert_close(out[:, 2 * i : 2 * i + 2], expected.to(out.dtype))


def test_parallel_gradients_reach_inputs_and_every_circuit():
    torch.manual_seed(2)
    layer = ParallelCircuits(4, 2, 2, "strongly_entangling", 1)
    x = torch.rand(3, 4, requires_grad=True)
    layer(x).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for circuit in layer.circuits:
        assert circuit.weights.grad is not None and circuit.weights.grad.abs().sum() > 0


def test_parallel_twin_matches_params_and_shapes():
    layer = hqnn_parallel()
    twin = layer.classical_twin()
    assert count_parameters(twin)["quantum"] == 0
    assert within_10pct(twin, layer.n_quantum_params)
    x = torch.rand(5, 20)
    assert twin(x).shape == layer(x).shape


def test_parallel_probs_output_and_validation():
    layer = ParallelCircuits(4, 2, 2, "basic_entangler", 1, measurement="probs")
    out = layer(torch.rand(3, 4))
    assert out.shape == (3, 8)
    torch.testing.assert_close(out.reshape(3, 2, 4).sum(-1), torch.ones(3, 2))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        layer(torch.rand(3, 5))
    with pytest.raises(ValueError, match="split evenly"):
        ParallelCircuits(5, 2, 2)
    with pytest.raises(ValueError, match="at most 2"):
        ParallelCircuits(6, 2, 2)


# --- Quanv2d ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "c_in, c_out, kernel, stride, padding, size",
    [
        (1, 4, 2, 2, 0, (8, 8)),
        (1, 4, 2, 2, 0, (7, 5)),
        (1, 3, 2, 1, 1, (4, 5)),
        (2, 5, (2, 1), (1, 2), (0, 1), (5, 4)),
        (1, 10, 3, 2, 1, (5, 5)),  # 9 qubits, two filters
    ],
)
def test_quanv_output_shape_matches_conv2d(c_in, c_out, kernel, stride, padding, size):
    x = torch.rand(2, c_in, *size)
    layer = Quanv2d(c_in, c_out, kernel, stride, padding)
    expected = nn.Conv2d(c_in, c_out, kernel, stride, padding)(x).shape
    assert layer(x).shape == expected
    assert layer.classical_twin()(x).shape == expected


def quanv_reference(layer: Quanv2d, patch: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    qnode, _ = build_qnode(
        layer.n_qubits, "angle", "quanv_block", encoding_kw={"rotation": "Y", "scale": math.pi}
    )
    return torch.stack(qnode(patch.flatten(), weights)).to(patch.dtype)


def test_quanv_patch_equals_catalogue_qnode():
    layer = Quanv2d(1, 4, kernel_size=2, stride=2)
    x = torch.rand(1, 1, 4, 6)
    out = layer(x)
    weights = layer.filters[0].weights
    for i, j in [(0, 0), (1, 2), (0, 1)]:
        patch = x[0, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        torch.testing.assert_close(out[0, :, i, j], quanv_reference(layer, patch, weights))


def test_fixed_quanv_filters_read_their_buffer():
    layer = Quanv2d(1, 6, 2, 2, trainable=False, ansatz="quanv_block")
    assert layer.n_filters == 2
    x = torch.rand(1, 1, 2, 2)
    out = layer(x)[0, :, 0, 0]
    torch.testing.assert_close(out[:4], quanv_reference(layer, x[0], layer.fixed_weights[0]))
    torch.testing.assert_close(out[4:], quanv_reference(layer, x[0], layer.fixed_weights[1])[:2])


def test_quanv_gradients_reach_inputs_and_weights():
    layer = Quanv2d(2, 3, 2, 1, 1)
    x = torch.rand(2, 2, 3, 3, requires_grad=True)
    layer(x).pow(2).sum().backward()
    assert x.grad.abs().sum() > 0
    assert layer.filters[0].weights.grad.abs().sum() > 0


def test_fixed_quanv_has_no_trainable_params_and_is_seeded():
    x = torch.rand(2, 1, 4, 4)
    a = Quanv2d(1, 4, 2, 2, ansatz="random_layer", trainable=False, seed=7)
    b = Quanv2d(1, 4, 2, 2, ansatz="random_layer", trainable=False, seed=7)
    c = Quanv2d(1, 4, 2, 2, ansatz="random_layer", trainable=False, seed=8)
    assert count_parameters(a) == {"total": 0, "quantum": 0, "classical": 0}
    assert "fixed_weights" in a.state_dict()
    torch.testing.assert_close(a(x), b(x))
    assert not torch.allclose(a(x), c(x))
    c.load_state_dict(a.state_dict())  # the circuit uses whatever the buffer holds
    torch.testing.assert_close(a(x), c(x))
    twin = a.classical_twin()
    assert count_parameters(twin, trainable_only=False)["total"] == 0
    assert twin(x).shape == a(x).shape


@pytest.mark.parametrize(
    "args, kw",
    [((1, 4, 2, 2), {}), ((2, 6, 2, 2), {}), ((1, 4, 2, 2), {"depth": 3}), ((1, 32, 3, 1), {})],
)
def test_quanv_twin_matches_params(args, kw):
    layer = Quanv2d(*args, **kw)
    twin = layer.classical_twin()
    assert within_10pct(twin, layer.n_quantum_params)
    x = torch.rand(2, args[0], 4, 4)
    assert twin(x).shape == layer(x).shape


def test_twin_of_a_small_circuit_on_a_wide_patch_uses_fixed_random_features():
    # 16 values amplitude-encoded on 4 qubits, 12 weights: no dense conv is that small
    layer = Quanv2d(4, 4, 2, 2, encoding="amplitude", ansatz="basic_entangler", depth=3)
    assert layer.n_qubits == 4 and layer.n_quantum_params == 12
    twin = layer.classical_twin()
    assert count_parameters(twin)["total"] == 12
    assert sum(b.numel() for b in twin.buffers()) > 0
    x = torch.rand(2, 4, 4, 4)
    assert twin(x).shape == layer(x).shape


def test_quanv_accepts_leading_dims_and_validates():
    layer = Quanv2d(1, 4, 2, 2)
    assert layer(torch.rand(2, 3, 1, 4, 4)).shape == (2, 3, 4, 2, 2)
    assert layer(torch.rand(1, 4, 4)).shape == (4, 2, 2)
    with pytest.raises(ValueError, match=r"\(\.\.\., 1, H, W\)"):
        layer(torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="smaller than"):
        layer(torch.rand(2, 1, 1, 1))



def _batch_sizes(layer: Quanv2d) -> list[int]:
    """Records the number of circuits each call of the layer's first filter runs."""
    sizes: list[int] = []
    layer.filters[0].register_forward_hook(lambda m, args, out: sizes.append(args[0].shape[0]))
    return sizes


def _blank_images(dtype=torch.float64) -> torch.Tensor:
    x = torch.rand(3, 1, 8, 8, dtype=dtype, generator=torch.Generator().manual_seed(0))
    x[:, :, :4] = 0  # blank top half
    x[1] = 0  # one blank image
    return x


def test_quanv_shares_blank_patches_exactly():
    x = _blank_images()
    shared = Quanv2d(1, 4, 2, 2, padding=1).double()
    plain = Quanv2d(1, 4, 2, 2, padding=1, reuse_blank=False).double()
    plain.load_state_dict(shared.state_dict())
    sizes = _batch_sizes(shared)
    outs = []
    for layer in (shared, plain):
        out = layer(x)
        (out * torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape).cos()).sum().backward()
        outs.append((out.detach(), layer.filters[0].weights.grad.clone()))
    patches = torch.nn.functional.unfold(x, 2, padding=1, stride=2).transpose(1, 2).reshape(-1, 4)
    live = int((patches != 0).any(1).sum())
    assert sizes == [live + 1] and live + 1 < patches.shape[0] // 2
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=1e-12)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=0, atol=1e-10)


def test_quanv_runs_every_patch_when_inputs_need_gradients_or_shots_or_few_are_blank(
    monkeypatch,
):
    x = _blank_images()
    shared = Quanv2d(1, 4, 2, 2).double()
    plain = Quanv2d(1, 4, 2, 2, reuse_blank=False).double()
    plain.load_state_dict(shared.state_dict())
    sizes = _batch_sizes(shared)
    grads = []
    for layer in (shared, plain):
        xi = x.clone().requires_grad_(True)
        layer(xi).pow(2).sum().backward()
        grads.append(xi.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-12)
    shared(torch.rand(2, 1, 8, 8, dtype=torch.float64))  # nothing blank
    monkeypatch.setattr(type(shared.filters[0]), "analytic", property(lambda self: False))
    shared(x)  # finite shots: every circuit samples on its own
    assert sizes == [3 * 16, 2 * 16, 3 * 16]


# --- QCNN ------------------------------------------------------------------------------


def test_qcnn_pools_to_readout_with_gradients():
    layer = QCNN(8, n_readout=1)
    assert layer.levels == 3 and layer.readout_wires == [7]
    assert layer.n_quantum_params == 3 * 7
    x = torch.rand(5, 8, requires_grad=True)
    out = layer(x)
    assert out.shape == (5, 1)
    out.sum().backward()
    assert x.grad.abs().sum() > 0 and layer.circuit.weights.grad.abs().sum() > 0
    probs = QCNN(4, n_readout=2, measurement="probs")
    assert probs.readout_wires == [1, 3] and probs(torch.rand(2, 3, 4)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="n_readout"):
        QCNN(4, n_readout=4)


@pytest.mark.parametrize("n_qubits, n_readout", [(8, 1), (8, 2), (4, 1)])
def test_qcnn_twin_matches_params(n_qubits, n_readout):
    layer = QCNN(n_qubits, n_readout)
    twin = layer.classical_twin()
    assert within_10pct(twin, layer.n_quantum_params)
    x = torch.rand(3, n_qubits)
    assert twin(x).shape == layer(x).shape


# --- DressedCircuit --------------------------------------------------------------------


def test_dressed_circuit_shapes_params_and_twin():
    layer = DressedCircuit(10, 3, n_qubits=4, depth=6)
    counts = count_parameters(layer)
    assert counts == {"total": 44 + 24 + 15, "quantum": 24, "classical": 59}
    x = torch.rand(2, 5, 10)
    assert layer(x).shape == (2, 5, 3)
    twin = layer.classical_twin()
    assert within_10pct(twin, counts["total"]) and twin(x).shape == (2, 5, 3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 10\)"):
        layer(torch.rand(2, 9))


def test_dressed_circuit_learns_a_toy_problem():
    torch.manual_seed(0)
    n = 64
    labels = torch.arange(n) % 2
    x = torch.randn(n, 2) * 0.4 + (labels[:, None] * 2 - 1) * torch.tensor([1.0, -0.5])
    model = DressedCircuit(2, 2, n_qubits=2, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(40):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
    accuracy = (model(x).argmax(-1) == labels).float().mean()
    assert accuracy >= 0.9, float(accuracy)


@pytest.mark.parametrize("make", [lambda: (ReuploadLinear(6, 3, n_qubits=3), 6),
                                  lambda: (WireCut(n_qubits=6, cut_qubit=2), 6)],
                         ids=["ReuploadLinear", "WireCut"])  # fmt: skip
def test_first_call_under_inference_mode_then_training(make):
    """A first call under ``torch.inference_mode()`` (an evaluation before training) caches
    nothing a later autograd call cannot use: the same values, and gradients flow."""
    torch.manual_seed(0)
    layer, width = make()
    x = torch.rand(5, width, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        y0 = layer(x)
    y = layer(x)
    y.sum().backward()
    torch.testing.assert_close(y.detach(), y0.clone(), atol=1e-6, rtol=0)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())

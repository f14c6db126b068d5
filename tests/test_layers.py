"""Quantum layers: shapes, gradients, equivalence with the catalogue QNode, twins."""

from __future__ import annotations

import pennylane as qml
import pytest
import torch
from torch import nn

from circuits import build_qnode
from qclf.layers import ParallelCircuits, count_parameters
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

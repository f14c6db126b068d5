"""S5-S7 models and their layers: build, forward/backward, twin sizes, exactness of the wire cut
and of the observable convolution, determinism of S6's pre-training stage."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch

from qclf.layers import count_parameters, is_quantum_module
from qclf.layers.observable_conv import ObservableConv2d
from qclf.layers.reupload_linear import ReuploadLinear, cnot_ring, entangling_unitaries
from qclf.layers.wire_cut import WireCut
from qclf.models import create_model, model_info

MNIST, MED3, CIFAR = (1, 28, 28), (3, 28, 28), (3, 32, 32)
CASES = [
    ("distributed_qcnn", 2, MNIST), ("distributed_qcnn", 8, MED3),
    ("classical_distributed_qcnn", 2, MNIST), ("classical_distributed_qcnn", 8, MED3),
    ("transfer_autoencoder", 10, MNIST), ("classical_transfer_autoencoder", 10, MNIST),
    ("s6_paper_classical", 10, MNIST),
    ("creep_l0", 10, MNIST), ("creep_l0", 10, CIFAR), ("creep_l1", 10, MNIST),
    ("creep_l1", 10, CIFAR), ("creep_l2", 10, MNIST), ("creep_l2", 10, CIFAR),
    ("creep_l2_twin", 10, MNIST),
]


@pytest.mark.parametrize(("name", "classes", "shape"), CASES)
def test_builds_runs_and_gradients_reach_quantum_weights(name, classes, shape):
    torch.manual_seed(0)
    model = create_model(name, num_classes=classes, input_shape=shape)
    model.train()
    y = model(torch.rand(3, *shape))
    assert y.shape == (3, classes)
    y.logsumexp(-1).sum().backward()
    counts = count_parameters(model)
    if model_info(name)["kind"] == "hybrid":
        assert any(is_quantum_module(m) for m in model.modules())
        # S6's circuit has no trainable weights (everything learned there is classical)
        assert counts["quantum"] > 0 or name == "transfer_autoencoder"
    for p in model.parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all()
    quantum = [p for m in model.modules() if getattr(m, "is_quantum", False)
               for p in m.parameters()]
    assert all(p.grad.abs().sum() > 0 for p in quantum)


@pytest.mark.parametrize(("hybrid", "twin", "shape"), [
    ("distributed_qcnn", "classical_distributed_qcnn", MNIST),
    ("transfer_autoencoder", "classical_transfer_autoencoder", MNIST),
    ("creep_l2", "creep_l2_twin", MNIST),
    ("creep_l1", "creep_l0", MNIST),
])
def test_twin_parameter_counts_within_10_percent(hybrid, twin, shape):
    n_h = count_parameters(create_model(hybrid, num_classes=10, input_shape=shape))["total"]
    n_t = count_parameters(create_model(twin, num_classes=10, input_shape=shape))["total"]
    assert abs(n_h - n_t) <= 0.1 * n_h
    assert model_info(twin).get("twin_of") == hybrid


def test_s5_quantum_block_and_twin_block_sizes_match():
    layer = WireCut()
    assert count_parameters(layer)["quantum"] == 10  # 5 shared weights per fragment
    n_twin = count_parameters(layer.classical_twin())["total"]
    assert abs(n_twin - 10) <= 1
    plan = layer.plan  # qclf.cutting: a 4-qubit front measured in 3 bases, a 5-qubit back in 4
    assert [f.width for f in plan.fragments] == [4, 5] and plan.n_cuts == 1
    assert plan.cuts[0][0] == 3 and plan.circuits_per_sample == 7


@pytest.mark.parametrize("measurement", ["probs", "Z", "X"])
def test_wire_cut_equals_uncut_values_and_gradients(measurement):
    torch.manual_seed(1)
    layer = WireCut(measurement=measurement).double()
    x = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    params = [x, layer.front_weights, layer.back_weights]
    outs, grads = [], []
    for cut in (True, False):
        layer.cut = cut
        y = layer(x)
        outs.append(y)
        grads.append(torch.autograd.grad((y * torch.arange(y.shape[-1])).sum(), params))
    assert torch.allclose(outs[0], outs[1], atol=1e-6, rtol=0)
    for g_cut, g_uncut in zip(*grads, strict=True):
        assert torch.allclose(g_cut, g_uncut, atol=1e-6, rtol=0)
    if measurement == "probs":
        assert torch.allclose(outs[0].sum(-1), torch.ones(6, dtype=torch.float64))


def test_wire_cut_uncut_matches_pennylane():
    torch.manual_seed(2)
    layer = WireCut().double()
    x = torch.randn(2, 8, dtype=torch.float64)
    dev = qml.device("default.qubit", wires=8)

    @qml.qnode(dev, interface="torch")
    def full(inputs):
        return layer._uncut(inputs, layer.front_weights.detach(), layer.back_weights.detach())

    expected = torch.stack([full(xi) for xi in x])
    assert torch.allclose(layer(x), expected, atol=1e-8)


def test_observable_conv_equals_explicit_statevector():
    torch.manual_seed(3)
    layer = ObservableConv2d(2, 3, 3).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        layer.bias.normal_()
    y = layer(x)
    paulis = {"I": np.eye(2), "X": qml.matrix(qml.PauliX(0)), "Y": qml.matrix(qml.PauliY(0)),
              "Z": qml.matrix(qml.PauliZ(0))}
    dev = qml.device("default.qubit", wires=2)

    @qml.qnode(dev)
    def state(theta):
        qml.StronglyEntanglingLayers(theta.reshape(2, 2, 3), wires=[0, 1])
        return qml.state()

    theta = layer.states.theta.detach().numpy().reshape(3, 2, -1)
    i, j = 1, 2  # output position: the patch x[:, :, 1:4, 2:5]
    for o in range(3):
        total = layer.bias[o].item()
        for c in range(2):
            psi = np.asarray(state(theta[o, c]))
            patch = x[0, c, i:i + 3, j:j + 3].reshape(-1).numpy()
            obs = sum(p * np.kron(paulis[w[0]], paulis[w[1]])
                      for p, w in zip(patch, layer.basis, strict=True))
            total += float(np.real(psi.conj() @ obs @ psi))
        assert abs(total - y[0, o, i, j].item()) < 1e-8


def test_reupload_unitaries_match_pennylane():
    theta = torch.rand(2, 2, 3, 3, dtype=torch.float64)
    rings = torch.stack([cnot_ring(3, (layer % 2) + 1) for layer in range(2)])
    u = entangling_unitaries(theta, rings)
    m = qml.matrix(qml.StronglyEntanglingLayers, wire_order=range(3))(theta[1].numpy(),
                                                                      wires=range(3))
    assert np.abs(u[1].numpy() - m).max() < 1e-10
    layer = ReuploadLinear(20, 4, n_qubits=3, depth=2).double()
    x = torch.randn(3, 20, dtype=torch.float64)
    psi = torch.full((3, 8), 8**-0.5, dtype=torch.complex128)
    chunks = torch.nn.functional.pad(x, (0, 4)).reshape(3, 3, 8)
    for j, uj in enumerate(layer.unitaries()):
        psi = (psi * torch.polar(torch.ones_like(chunks[:, j]), chunks[:, j])) @ uj.T
    expected = (psi.abs() ** 2) @ layer.signs.double()
    assert torch.allclose(layer.expectations(x), expected, atol=1e-10)


def _tiny_set(n: int = 40, seed: int = 0):
    from qclf.data import ImageDataset, dataset_info

    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.arange(n) % 10
    return ImageDataset(images, labels, dataset_info("mnist"), "train")


def test_s6_prepare_fit_is_deterministic_by_seed_and_keeps_requires_grad():
    data = _tiny_set()
    states = []
    for seed in (0, 0, 1):
        torch.manual_seed(100 + seed)  # different global state: must not matter
        model = create_model("transfer_autoencoder", num_classes=10, input_shape=MNIST,
                             ae_epochs=2)
        grads_before = [p.requires_grad for p in model.parameters()]
        rng_before = torch.get_rng_state()
        model.prepare_fit(train_set=data, device=torch.device("cpu"), seed=seed, progress=False)
        assert torch.equal(torch.get_rng_state(), rng_before)
        assert [p.requires_grad for p in model.parameters()] == grads_before
        assert bool(model.backbone.fitted)
        states.append({k: v.clone() for k, v in model.backbone.state_dict().items()})
        feats = model.backbone(data[torch.arange(8)][0])
        assert feats.shape == (8, 5) and torch.isfinite(feats).all()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not torch.equal(states[0]["pca_components"], states[2]["pca_components"])


def test_s7_config_trains_on_cifar10_in_the_real_format(tmp_path, monkeypatch):
    """CIFAR-10 is not on this machine: its pickled batches are generated in the real format."""
    import pickle
    from pathlib import Path

    import numpy as np

    from qclf.bench import load_bench
    from qclf.data import clear_cache
    from qclf.train import TrainConfig, fit

    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    parts = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for part in parts:
        y = rng.permutation(np.arange(20) % 10)
        batch = {b"batch_label": part.encode(), b"labels": [int(v) for v in y],
                 b"data": rng.integers(0, 256, size=(20, 3 * 32 * 32), dtype=np.uint8),
                 b"filenames": [b"x.png"] * 20}
        with open(folder / part, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    monkeypatch.delenv("QCLF_DATA_DIR", raising=False)
    monkeypatch.delenv("QCLF_DATA", raising=False)
    clear_cache()
    cfg = load_bench(Path(__file__).resolve().parents[1] / "experiments" /
                     "s7_quantum_creep.yaml")
    assert "cifar10" in cfg.datasets
    for spec in cfg.models:
        train = {**cfg.train, "epochs": 1, "batch_size": 128}
        m = fit(TrainConfig(model=spec.name, dataset="cifar10", seed=0, data_dir=str(tmp_path),
                            model_kw=dict(spec.kw), progress=False, **train)).metrics
        assert m["n_train"] == 90 and m["history"][0]["train_loss"] > 0
    clear_cache()

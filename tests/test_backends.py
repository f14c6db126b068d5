"""qclf.backends: conversion exactness, shot statistics, packing, model evaluation, clear errors.

Exact agreement is checked against PennyLane (default.qubit) and the torch engine; shot-based
results are checked against the exact values within their own standard errors.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch

pytest.importorskip("qiskit_aer")
pytest.importorskip("qiskit_ibm_runtime")

from qclf import circuits  # noqa: E402
from qclf.backends import (  # noqa: E402
    BackendError,
    CircuitTooWideError,
    UnsupportedLayerError,
    batch_from_tape,
    get_backend,
)
from qclf.backends.model import on_backend  # noqa: E402
from qclf.backends.template import GATES  # noqa: E402
from qclf.models import create_model, list_models  # noqa: E402

RNG = np.random.default_rng(7)
OBS = [qml.PauliX(0), qml.PauliY(1) @ qml.PauliZ(2), 0.5 * qml.PauliZ(0) + qml.PauliX(1)]


def _gate_tape(name: str, n_angles: int) -> qml.tape.QuantumScript:
    def f(x):
        for w in range(3):
            qml.RX(x[:, w], wires=w)
            qml.RY(0.3 + w, wires=w)
        n = {"Toffoli": 3, "CSWAP": 3}.get(name, 2 if name[0] == "C" or "I" in name[:2]
                                           or name == "SWAP" else 1)
        if name.startswith("Adjoint("):
            qml.adjoint(getattr(qml, name[8:-1])(wires=0))
        else:
            getattr(qml, name)(*RNG.random(n_angles) * 3, wires=list(range(n)))
        return [qml.expval(o) for o in OBS]

    return qml.tape.make_qscript(f)(torch.tensor(RNG.random((4, 3)) * 3))


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_converts_exactly(name):
    tape = _gate_tape(name, GATES[name][1])
    ref = np.stack([np.asarray(r) for r in qml.execute([tape], qml.device("default.qubit"))[0]],
                   1)
    batch = batch_from_tape(tape, [0, 1, 2])
    for backend in ("exact", "default.qubit", "aer"):
        est = get_backend(backend).estimate([batch])[0]
        np.testing.assert_allclose(est.values, ref, atol=1e-9, err_msg=f"{name} on {backend}")
        assert np.all(est.stderr == 0)


@pytest.mark.parametrize("encoding,ansatz", [
    ("angle", "strongly_entangling"), ("dense_angle", "basic_entangler"), ("iqp", "random_layer"),
    ("hadamard_angle", "qcnn"), ("amplitude", "eurosat_real_amplitudes"), ("angle", "dressed"),
    ("angle", "quanv_block"), ("angle", "transfer_cascade"), ("angle", "eurosat_bell"),
])
def test_catalogue_circuits_on_aer_match_pennylane(encoding, ansatz):
    n = 4
    qnode, shapes = circuits.build_qnode(n, encoding, ansatz, 2 if ansatz != "qcnn" else 1, "Z")
    n_in = circuits.n_inputs(n, encoding, ansatz, 2 if ansatz != "qcnn" else 1)
    x = torch.rand(3, n_in, dtype=torch.float64)
    weights = {k: torch.rand(s, dtype=torch.float64) * 6 for k, s in shapes.items()}
    tape = qml.tape.make_qscript(qnode.func)(x, **weights)
    ref = np.stack([np.asarray(r) for r in qnode(x, **weights)], 1)
    est = get_backend("aer").estimate([batch_from_tape(tape, range(n))])[0]
    np.testing.assert_allclose(est.values, ref, atol=1e-8)


def test_shots_are_unbiased_with_correct_standard_errors():
    tape = _gate_tape("CRY", 1)
    batch = batch_from_tape(tape, [0, 1, 2])
    exact = get_backend("exact").estimate([batch])[0].values
    est = get_backend("aer", shots=4000, seed=3).estimate([batch])[0]
    z = (est.values - exact) / est.stderr
    assert np.abs(z).max() < 5
    # a single Pauli word's standard error is sqrt((1 - <P>^2) / shots)
    np.testing.assert_allclose(est.stderr[:, 0], np.sqrt((1 - exact[:, 0] ** 2) / 4000),
                               rtol=0.1, atol=2e-3)
    again = get_backend("aer", shots=4000, seed=3).estimate([batch])[0]
    np.testing.assert_array_equal(again.values, est.values)  # seeded


def test_probabilities_exact_and_sampled():
    def f(x):
        qml.RY(x, wires=0)
        qml.CNOT(wires=[0, 2])
        qml.RX(0.7, wires=1)
        return qml.probs(wires=[2, 1])

    tape = qml.tape.make_qscript(f)(torch.tensor([0.2, 1.1, 2.5]))
    ref = np.asarray(qml.execute([tape], qml.device("default.qubit"))[0])
    batch = batch_from_tape(tape)
    for name, kw, tol in [("exact", {}, 1e-12), ("aer", {}, 1e-9),
                          ("aer", {"shots": 8000, "seed": 1}, 0.03)]:
        est = get_backend(name, **kw).estimate([batch])[0]
        np.testing.assert_allclose(est.values, ref, atol=tol)


def _digits_models():
    out = []
    for name in list_models(kind="hybrid"):
        try:
            out.append((name, create_model(name, dataset="digits")))
        except ValueError:  # needs larger images (S4)
            continue
    return out


def test_every_hybrid_model_runs_on_aer_exactly_or_says_why():
    torch.manual_seed(0)
    ran = []
    for name, model in _digits_models():
        model = model.double().eval()
        x = torch.rand(2, *model.input_shape, dtype=torch.float64)
        with torch.no_grad():
            ref = model(x)
            if name == "creep_l2":
                with pytest.raises(UnsupportedLayerError, match="explicit"), \
                        on_backend(model, get_backend("aer")):
                    pass
                continue
            with on_backend(model, get_backend("aer")):
                out = model(x)
            torch.testing.assert_close(out, ref, atol=1e-7, rtol=1e-7, msg=name)
            torch.testing.assert_close(model(x), ref)  # restored after the block
        ran.append(name)
    assert {"hqnn_parallel", "hqnn_quanv", "distributed_qcnn", "creep_l1",
            "hybrid_amplitude", "transfer_autoencoder"} <= set(ran)


def test_classical_model_is_rejected():
    model = create_model("classical_parallel", dataset="digits")
    with pytest.raises(UnsupportedLayerError, match="no quantum layer"), \
            on_backend(model, get_backend("aer")):
        pass


@pytest.mark.parametrize("batch", [3, 17])
def test_packing_is_constant_in_images_and_circuits(batch):
    model = create_model("hqnn_parallel", dataset="digits").double().eval()
    backend = get_backend("aer", shots=64, seed=0)
    with torch.no_grad(), on_backend(model, backend):
        model(torch.rand(batch, *model.input_shape, dtype=torch.float64))
    # 4 parallel circuits x B images: ONE PUB in ONE job (same circuit shape), B*4 bindings
    assert (backend.stats.pubs, backend.stats.jobs) == (1, 1)
    assert backend.stats.circuits == 4 * batch
    assert backend.stats.shots == 64 * 4 * batch


def test_quanvolution_packs_all_patches_in_one_pub():
    model = create_model("hqnn_quanv", dataset="digits").double().eval()
    backend = get_backend("fake:fake_manila", shots=32, seed=0)
    x = torch.rand(5, *model.input_shape, dtype=torch.float64)
    x[..., :4, :] = 0  # blank patches still run one circuit each (their own shot noise)
    with torch.no_grad(), on_backend(model, backend):
        model(x)
    assert (backend.stats.pubs, backend.stats.jobs) == (1, 1)
    assert backend.stats.circuits == 5 * 16  # 16 patches of 2x2 (stride 2) per 8x8 image
    assert len(backend.stats.job_ids) == 1


def test_template_is_built_once_per_circuit_shape():
    model = create_model("hqnn_parallel", dataset="digits").double().eval()
    backend = get_backend("aer", shots=16, seed=0)
    templates = set()
    orig = backend._run

    def spy(batches):
        templates.update(id(b.template) for b in batches)
        return orig(batches)

    backend._run = spy
    with torch.no_grad(), on_backend(model, backend):
        for _ in range(3):
            model(torch.rand(4, *model.input_shape, dtype=torch.float64))
    assert len(templates) == 1
    first, second = batch_from_tape(_gate_tape("RX", 1)), batch_from_tape(_gate_tape("RX", 1))
    assert first.template is second.template  # cached by structure, values differ
    assert first.template.qiskit_circuit() is second.template.qiskit_circuit()


def test_noise_runs_on_the_device_target():
    tape = _gate_tape("CNOT", 0)
    batch = batch_from_tape(tape, [0, 1, 2])
    exact = get_backend("exact").estimate([batch])[0].values
    noisy = get_backend("aer", noise="fake_manila").estimate([batch])[0].values  # exact noisy
    assert 1e-3 < np.abs(noisy - exact).max() < 0.3
    backend = get_backend("aer", shots=256, noise="fake_manila", seed=1)
    assert backend.num_qubits == 5
    assert backend.estimate([batch])[0].values.shape == (4, 3)


def test_clear_errors():
    with pytest.raises(BackendError, match="unknown backend 'nope'.*fake:<name>.*fake_manila"):
        get_backend("nope")
    with pytest.raises(BackendError, match="unknown fake backend 'fake_nowhere'.*fake_manila"):
        get_backend("fake:fake_nowhere")
    with pytest.raises(ValueError, match="exact"):
        get_backend("exact", shots=100)
    with pytest.raises(ValueError, match="positive"):
        get_backend("aer", shots=0)
    wide = qml.tape.QuantumScript([qml.Hadamard(w) for w in range(8)],
                                  [qml.expval(qml.PauliZ(0))])
    with pytest.raises(CircuitTooWideError, match="8 qubits.*fake_manila has 5.*cut"):
        get_backend("fake:fake_manila").estimate_tapes([wide])
    bad = qml.tape.QuantumScript([qml.RX(0.1, 0)], [qml.expval(qml.Hermitian(np.eye(2), 0))])
    with pytest.raises(UnsupportedLayerError, match="Pauli"):
        batch_from_tape(bad)


def test_missing_credentials_say_how_and_never_echo_the_token(monkeypatch):
    token = "qclf-test-token-DO-NOT-PRINT-1234"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:fake-instance")
    with pytest.raises(BackendError) as info:
        get_backend("ibm:ibm_nowhere", shots=100)
    assert token not in str(info.value)
    assert "QISKIT_IBM_TOKEN" in str(info.value) or "not available" in str(info.value)


def test_missing_extra_names_the_pip_extra(monkeypatch):
    import sys

    from qclf.backends import MissingExtraError

    monkeypatch.setitem(sys.modules, "qiskit_aer", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[aer\]'"):
        get_backend("aer", shots=10)


@pytest.mark.parametrize("noise", [None, "fake_manila"])
def test_several_batches_in_one_job_keep_their_order(noise):
    batches = [batch_from_tape(_gate_tape(g, GATES[g][1]), [0, 1, 2]) for g in ("CRX", "SWAP")]
    exact = get_backend("aer", noise=noise).estimate(batches)
    backend = get_backend("aer", shots=3000, noise=noise, seed=2)
    sampled = backend.estimate(batches)
    assert backend.stats.jobs == 1 and backend.stats.pubs == 2
    for e, s in zip(exact, sampled, strict=True):
        assert s.values.shape == e.values.shape == (4, 3)
        if noise is None:
            assert np.abs((s.values - e.values) / s.stderr).max() < 5
        else:  # exact noisy values leave out readout errors, sampled shots include them
            assert np.abs(s.values - e.values).max() < 0.15

"""Cut circuits with shots and on (fake) hardware: estimates within their standard errors on
Aer, and S5's 8-qubit QCNN evaluated through 4- and 5-qubit fragments on the 5-qubit
``fake_manila`` device, which cannot run it uncut."""

from __future__ import annotations

import json
from pathlib import Path

import pennylane as qml
import pytest
import torch

pytest.importorskip("qiskit_aer")
pytest.importorskip("qiskit_ibm_runtime")

from qclf.backends import get_backend  # noqa: E402
from qclf.cli import main  # noqa: E402
from qclf.cutting import split  # noqa: E402


def test_cut_estimate_with_shots_lies_within_4_standard_errors():
    n = 6
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n), rotation="Y")
        for i in range(n - 1):
            qml.CNOT(wires=[i, i + 1])
            qml.RY(weights[i], wires=i + 1)
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(5)), qml.probs(wires=[2, 3])

    torch.manual_seed(0)
    x = torch.rand(4, n, dtype=torch.float64)
    w = torch.rand(n, dtype=torch.float64)
    cut = split(circuit, 4)
    backend = get_backend("aer", shots=20_000, seed=3)
    (zz, probs), (zz_se, probs_se) = cut.estimate(x, w, backend=backend)
    exact = circuit(x, w)
    assert cut.plan.n_cuts == 1 and cut.plan.max_width <= 4
    assert (zz_se > 0).all() and (probs_se > 0).all()
    assert ((zz - exact[0]).abs() <= 4 * zz_se).all(), (zz, exact[0], zz_se)
    assert ((probs - exact[1]).abs() <= 4 * probs_se).all()
    # honoured per fragment: 4 samples x (1 + 4 preparations) bindings, one PUB per fragment
    stats = backend.stats.as_dict()
    assert stats["circuits"] == 4 * (1 + 4) and stats["pubs"] == 2
    assert stats["total_shots"] == 20 * 20_000


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cut") / "s5"
    assert main(["train", "--model", "distributed_qcnn", "--dataset", "digits", "--epochs", "1",
                 "--limit", "100", "--eval-limit", "20", "--out", str(out),
                 "--no-progress"]) == 0
    return out


def test_8_qubit_qcnn_through_fragments_on_fake_manila(cut_run, capsys):
    assert main(["submit", str(cut_run), "--backend", "fake:fake_manila", "--shots", "64",
                 "--limit", "4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = json.loads(out[: out.rindex("}") + 1])
    widths = [s["qubits"] for s in plan["circuit_shapes"]]
    assert widths and max(widths) <= 5  # fragments only: the device has 5 qubits
    assert not (cut_run / "jobs").exists()
    assert main(["evaluate", str(cut_run), "--backend", "fake:fake_manila", "--shots", "64",
                 "--limit", "4", "--no-progress"]) == 0
    r = json.loads((cut_run / "eval-fake_fake_manila-64.json").read_text())
    assert r["n_images"] == 4 and 0.0 <= r["accuracy"] <= 1.0 and "exact_accuracy" in r
    assert r["pubs"] >= 2


def test_uncut_qcnn_is_refused_by_the_5_qubit_device(tmp_path, capsys):
    out = tmp_path / "uncut"
    assert main(["train", "--model", "distributed_qcnn", "--dataset", "digits", "--epochs", "1",
                 "--limit", "60", "--eval-limit", "10", "--model-kw", "cut=false",
                 "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--backend", "fake:fake_manila", "--shots", "64",
                 "--limit", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "8" in err and "5" in err and "cut" in err.lower()

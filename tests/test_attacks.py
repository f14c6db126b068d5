"""White-box FGSM/PGD: they hurt a trained model, respect their bounds, reach through circuits."""

from __future__ import annotations

import pennylane as qml
import pytest
import torch
from torch import nn

from qclf.attacks import AttackError, fgsm, pgd, robust_accuracy
from qclf.data import load_dataset
from qclf.evaluate import evaluate
from qclf.train import TrainConfig, fit

EPS = 0.1


@pytest.fixture(scope="module")
def trained():
    """classical_parallel trained on all of digits' training split for a few epochs."""
    torch.manual_seed(0)
    res = fit(TrainConfig(model="classical_parallel", dataset="digits", epochs=6, batch_size=32,
                          lr=5e-3, progress=False))
    test = load_dataset("digits", "test", seed=0)
    return res.model.eval(), test


def test_trained_model_is_good(trained) -> None:
    model, test = trained
    assert evaluate(model, test, 10).accuracy > 0.8


def test_attacks_lower_accuracy_and_pgd_is_stronger(trained) -> None:
    model, test = trained
    clean = evaluate(model, test, 10).accuracy
    acc_f, clean_f = robust_accuracy(model, test, "fgsm", EPS, return_clean=True)
    acc_p = robust_accuracy(model, test, "pgd", EPS, alpha=0.01, steps=10)
    assert clean_f == pytest.approx(clean)
    assert acc_f < clean - 0.05, (clean, acc_f)
    assert acc_p < clean - 0.05, (clean, acc_p)
    assert acc_p <= acc_f + 0.02, (acc_f, acc_p)


def test_eps_zero_is_a_no_op(trained) -> None:
    model, test = trained
    clean = evaluate(model, test, 10).accuracy
    assert robust_accuracy(model, test, "fgsm", 0.0) == pytest.approx(clean)
    assert robust_accuracy(model, test, "pgd", 0.0) == pytest.approx(clean)
    x, y = test[torch.arange(16)]
    assert torch.equal(fgsm(model, x, y, 0.0), x)
    assert torch.equal(pgd(model, x, y, 0.0), x)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_bounds_clamp_and_determinism(trained, method: str) -> None:
    model, test = trained
    x, y = test[torch.arange(64)]
    x[:, :, 0, :] = 0.0  # pixels at the edges of [0, 1] must stay inside it
    x[:, :, 1, :] = 1.0
    model.zero_grad(set_to_none=True)  # training leaves the last step's grads
    if method == "fgsm":
        adv, again = fgsm(model, x, y, EPS), fgsm(model, x, y, EPS)
    else:
        adv = pgd(model, x, y, EPS, generator=torch.Generator().manual_seed(3))
        again = pgd(model, x, y, EPS, generator=torch.Generator().manual_seed(3))
    assert (adv - x).abs().max() <= EPS + 1e-6
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert (adv != x).any()
    assert torch.equal(adv, again)
    assert not any(p.grad is not None for p in model.parameters()), "attack left grads on weights"
    assert not model.training


def test_attack_restores_training_mode(trained) -> None:
    model, test = trained
    x, y = test[torch.arange(8)]
    model.train()
    try:
        fgsm(model, x, y, EPS)
        assert model.training
    finally:
        model.eval()


def test_bad_arguments() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    x, y = torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    with pytest.raises(AttackError, match="eps"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(AttackError, match="steps"):
        pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(AttackError, match="unknown attack"):
        robust_accuracy(model, load_dataset("digits", "test", limit=10), "cw", 0.1)


def _tiny_hybrid() -> nn.Module:
    from qclf.quantum import TorchLayer

    dev = qml.device("default.qubit", wires=2)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(2))
        qml.BasicEntanglerLayers(weights, wires=range(2))
        return [qml.expval(qml.PauliZ(w)) for w in range(2)]

    # No classical path around the circuit: any input gradient went through it.
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 2), TorchLayer(circuit, {"weights": (2, 2)}),
                         nn.Linear(2, 10))


@pytest.mark.parametrize("build", ["tiny_torchlayer", "hqnn_parallel"])
def test_gradients_reach_input_through_quantum_layer(build: str) -> None:
    from qclf.layers import count_parameters

    torch.manual_seed(0)
    if build == "tiny_torchlayer":
        model = _tiny_hybrid()
    else:
        from qclf.models import create_model

        model = create_model("hqnn_parallel", dataset="digits")
    assert count_parameters(model)["quantum"] > 0
    x, y = load_dataset("digits", "test", limit=8)[torch.arange(8)]
    xg = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(model.eval()(xg), y).backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    adv = pgd(model, x, y, EPS, steps=3, generator=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= EPS + 1e-6
    # the attack's first step follows the true gradient through the circuit
    step = fgsm(model, x, y, EPS) - x
    nz = (step.abs() > 1e-7) & (xg.grad.abs() > 0)
    assert nz.any()
    assert torch.equal(step[nz].sign(), xg.grad[nz].sign())

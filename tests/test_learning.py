"""Learning on real data: the demo's models clear 85% on digits within the demo's budget."""

from __future__ import annotations

import pytest

from qclf import demo
from qclf.layers import count_parameters
from qclf.models import create_model
from qclf.train import TrainConfig, fit


@pytest.mark.parametrize("name", demo.DEMO_MODELS)
def test_demo_models_learn_digits(name: str) -> None:
    # Fewer epochs than the demo runs: the bar must be cleared well inside its budget.
    cfg = TrainConfig(model=name, dataset="digits", epochs=6, batch_size=demo.DEMO_BATCH,
                      lr=demo.DEMO_LR, seed=0, progress=False)
    m = fit(cfg).metrics
    assert m["test_accuracy"] >= 0.85, m["history"]
    assert m["history"][-1]["train_loss"] < m["history"][0]["train_loss"]


@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_twin_parameter_count_matches(dataset: str) -> None:
    hybrid = count_parameters(create_model("hqnn_parallel", dataset=dataset))
    twin = count_parameters(create_model("classical_parallel", dataset=dataset))
    assert hybrid["quantum"] == 180 and twin["quantum"] == 0
    assert abs(twin["total"] - hybrid["total"]) <= 0.10 * hybrid["total"]
    # the swapped block itself is matched too, not only the (dominant) backbone
    assert abs(twin["classical"] - hybrid["classical"] - 180) <= 18

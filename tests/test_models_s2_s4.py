"""S2 (HQNN-Quanv), S3 (amplitude hybrid), S4 (EuroSAT circuit families): models, twins, configs.

Every registered model builds for its data sets' shapes, runs forward/backward on a tiny batch,
its quantum weights get gradients, its twin is within 10% of its parameters, and the CIFAR-100,
STL-10 and EuroSAT benches run one training step through the real loaders on tiny generated sets
in the real file formats.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from qclf.data import clear_cache
from qclf.layers import count_parameters
from qclf.models import InputShapeError, create_model, list_models, model_info
from qclf.quantum import TorchLayer

MNIST, RGB32, STL, EUROSAT = (1, 28, 28), (3, 32, 32), (3, 96, 96), (3, 64, 64)
S2 = ["hqnn_quanv", "classical_quanv", "classical_quanv_wide", "classical_quanv_equal"]
S3 = ["hybrid_amplitude", "classical_amplitude", "classical_amplitude_dense", "s3_paper_baseline"]
S4_HYBRIDS = ["eurosat_ry", "eurosat_realamplitudes", "eurosat_bell"]
S4 = [*S4_HYBRIDS, "eurosat_hybrid", "eurosat_classical", "eurosat_classical_realamplitudes"]

# (model, input shapes, classes): the data sets each family is configured for, plus an odd size.
CASES = (
    [(n, s, 10) for n in S2 for s in (MNIST, (1, 27, 31))]
    + [(n, s, c) for n in S3 for s, c in ((MNIST, 10), (RGB32, 100), (STL, 10))]
    + [(n, EUROSAT, 10) for n in S4]
)

def _n(model: torch.nn.Module) -> dict[str, int]:
    return count_parameters(model)


def test_all_registered_with_paper_and_kind():
    names = set(list_models("*"))
    for name in S2 + S3 + S4:
        assert name in names
        info = model_info(name)
        assert info["paper"] in ("S2", "S3", "S4") and info["kind"] in (
            "hybrid", "classical", "baseline")
        assert info["summary"], f"{name} has no docstring summary"
    for name in S2 + S3 + S4:
        info = model_info(name)
        if info["kind"] == "hybrid":
            assert model_info(info["twin"])["twin_of"] in (name, "eurosat_hybrid")
        if info["kind"] == "baseline":
            assert model_info(info["baseline_of"])["kind"] == "hybrid"


@pytest.mark.parametrize(("name", "shape", "classes"), CASES,
                         ids=[f"{n}-{'x'.join(map(str, s))}" for n, s, _ in CASES])
def test_builds_forward_backward(name, shape, classes):
    model = create_model(name, num_classes=classes, input_shape=shape)
    x = torch.rand(3, *shape)
    out = model(x)
    assert out.shape == (3, classes) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    for m in model.modules():
        if isinstance(m, TorchLayer):
            for p in m.parameters():  # gradients reach the circuit weights
                assert p.grad.abs().sum() > 0


TWINS = [("hqnn_quanv", "classical_quanv"), ("hybrid_amplitude", "classical_amplitude"),
         ("hybrid_amplitude", "classical_amplitude_dense"), ("eurosat_ry", "eurosat_classical"),
         ("eurosat_bell", "eurosat_classical"),
         ("eurosat_realamplitudes", "eurosat_classical_realamplitudes")]
# Each pair on the shapes of the data sets its bench runs on (S3: MNIST, CIFAR-100, STL-10).
TWIN_SHAPES = {"hqnn_quanv": [MNIST, (1, 27, 31)], "hybrid_amplitude": [MNIST, RGB32, STL]}
TWIN_CASES = [(h, t, s) for h, t in TWINS for s in TWIN_SHAPES.get(h, [EUROSAT, STL])]


@pytest.mark.parametrize(("hybrid", "twin", "shape"), TWIN_CASES)
def test_twin_parameters_within_ten_percent(hybrid, twin, shape):
    assert twin in (model_info(hybrid)["twin"], "classical_amplitude_dense")
    assert model_info(twin)["twin_of"] in (hybrid, "eurosat_hybrid")
    h, t = (_n(create_model(n, num_classes=10, input_shape=shape)) for n in (hybrid, twin))
    assert t["quantum"] == 0
    assert abs(t["total"] - h["total"]) <= 0.10 * h["total"], (h, t)


def test_block_level_match_where_circuit_has_weights():
    for hybrid, twin in TWINS[:2]:  # the registered twins of S2 and S3
        h, t = (create_model(n, num_classes=10, input_shape=MNIST) for n in (hybrid, twin))
        assert _n(h.block)["quantum"] == 8 and _n(t.block)["total"] == 8
        assert _n(h.backbone) == _n(t.backbone) and _n(h.head) == _n(t.head)


def test_s3_projection_twin_keeps_four_directions():
    # The 8-weight twin must not squeeze 16 features through one number (rank-1 map): its
    # fixed projection is orthonormal, so 4 independent directions reach the head.
    block = create_model("classical_amplitude", num_classes=10, input_shape=MNIST).block
    p = block.projection
    assert p.shape == (4, 16) and torch.allclose(p @ p.T, torch.eye(4), atol=1e-5)
    assert not p.requires_grad and _n(block)["total"] == 8
    x = torch.rand(5, 16) + 0.1
    assert torch.allclose(block(3.0 * x), block(x))  # normalised, like amplitude encoding


def test_s2_reference_counts_and_shapes():
    counts = {n: _n(create_model(n, num_classes=10, input_shape=MNIST))["total"] for n in S2}
    assert counts == {"hqnn_quanv": 7858, "classical_quanv": 7858,
                      "classical_quanv_wide": 31450, "classical_quanv_equal": 7870}
    assert 3.9 < counts["classical_quanv_wide"] / counts["hqnn_quanv"] < 4.1
    model = create_model("hqnn_quanv", num_classes=10, input_shape=MNIST)
    assert model.block(torch.rand(2, *MNIST)).shape == (2, 4, 14, 14)
    assert model.head[1].in_features == 784


def test_s2_configurable_circuit():
    model = create_model("hqnn_quanv", num_classes=10, input_shape=MNIST, depth=2,
                         measurement="X", encoding_kw={"rotation": "X", "scale": 3.14})
    assert _n(model)["quantum"] == 16
    fixed = create_model("hqnn_quanv", num_classes=10, input_shape=MNIST,
                         ansatz="random_layer", trainable=False)
    assert _n(fixed)["quantum"] == 0 and fixed(torch.rand(2, *MNIST)).shape == (2, 10)


def test_s3_amplitude_block_and_reference_counts():
    model = create_model("hybrid_amplitude", num_classes=10, input_shape=MNIST)
    assert _n(model)["total"] == 142530
    base = _n(create_model("s3_paper_baseline", num_classes=10, input_shape=MNIST))["total"]
    assert 0.06 <= 1 - 142530 / base <= 0.32  # the paper's "6-32% fewer parameters"
    feats = model.eval().features(torch.rand(4, *MNIST))
    assert feats.shape == (4, 16) and (feats > 0).all()  # |x| before amplitude encoding
    z = model.block(feats)
    assert z.shape == (4, 4) and (z.abs() <= 1 + 1e-5).all()
    # amplitude encoding normalises: the block sees directions only
    assert torch.allclose(model.block(3.0 * feats), z, atol=1e-5)
    deeper = create_model("hybrid_amplitude", num_classes=10, input_shape=MNIST, depth=3,
                          measurement="X", ansatz_kw={"rotation": "Y"})
    assert _n(deeper)["quantum"] == 12


@pytest.mark.parametrize("name", S4_HYBRIDS)
def test_s4_circuit_outputs_are_probabilities(name):
    model = create_model(name, num_classes=10, input_shape=EUROSAT).eval()
    probs = model.block(model.features(torch.rand(5, *EUROSAT)))
    assert probs.shape == (5, 16) and (probs >= -1e-6).all()
    assert torch.allclose(probs.sum(-1), torch.ones(5), atol=1e-5)
    angles = model.features(torch.rand(5, *EUROSAT))
    assert angles.shape[1] == (8 if "real" in name else 4) and (angles.abs() <= np.pi).all()


def test_s4_ry_circuit_matches_product_state():
    # Ry: H then RY(t) on each qubit is a product state: P(bit=0) = (1 - sin t) / 2 per qubit.
    model = create_model("eurosat_ry", num_classes=10, input_shape=EUROSAT)
    t = torch.tensor([[0.3, -1.2, 2.0, 0.7]])
    p0 = (1 - torch.sin(t)) / 2
    expect = torch.ones(1)
    for q in range(4):  # wire 0 is the most significant bit
        expect = torch.outer(expect, torch.stack([p0[0, q], 1 - p0[0, q]])).reshape(-1)
    assert torch.allclose(model.block(t)[0], expect, atol=1e-5)


def test_s4_builder_and_presets_agree():
    a = create_model("eurosat_hybrid", num_classes=10, input_shape=EUROSAT,
                     circuit="RealAmplitudes")
    b = create_model("eurosat_realamplitudes", num_classes=10, input_shape=EUROSAT)
    assert _n(a) == _n(b)
    with pytest.raises(ValueError, match="S4 circuit must be one of"):
        create_model("eurosat_hybrid", num_classes=10, input_shape=EUROSAT, circuit="ghz")


@pytest.mark.parametrize(("name", "shape", "match"), [
    ("hqnn_quanv", (1, 1, 1), "at least 2x2"),
    ("hybrid_amplitude", (1, 3, 3), "at least 4x4"),
    ("eurosat_ry", MNIST, "EuroSAT is 3x64x64"),
])
def test_too_small_images_fail_at_build(name, shape, match):
    with pytest.raises(InputShapeError, match=match):
        create_model(name, num_classes=10, input_shape=shape)


@pytest.mark.parametrize("name", ["hqnn_quanv", "hybrid_amplitude", "eurosat_bell"])
def test_wrong_input_shape_is_clear(name):
    shape = {"hqnn_quanv": MNIST, "hybrid_amplitude": MNIST, "eurosat_bell": EUROSAT}[name]
    model = create_model(name, num_classes=10, input_shape=shape)
    with pytest.raises(InputShapeError, match="expects images of shape"):
        model(torch.rand(2, 3, 28, 28) if shape == MNIST else torch.rand(2, 1, 64, 64))


# ------------------------------------------------------------------ configs and real loaders

CONFIGS = ["s2_hqnn_quanv", "s3_hybrid_amplitude", "s3_hybrid_amplitude_cifar100",
           "s3_hybrid_amplitude_stl10", "s4_eurosat"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("stem", CONFIGS)
def test_bench_configs_load(stem):
    from qclf.bench import load_bench

    cfg = load_bench(ROOT / "experiments" / f"{stem}.yaml")
    assert cfg.departures and cfg.paper.get("claim") and len(cfg.seeds) >= 3
    kinds = [model_info(m.name)["kind"] for m in cfg.models]
    assert kinds[0] == "hybrid" and "classical" in kinds
    if stem.startswith("s3"):
        assert cfg.train == {"epochs": 50, "batch_size": 64, "lr": 1e-3, "optimizer": "adamw",
                             "scheduler": "onecycle", "weight_decay": 0.01,
                             "label_smoothing": 0.1}
        assert [(a.method, a.eps) for a in cfg.attack] == [("fgsm", 0.1), ("pgd", 0.1)]
        assert cfg.attack[1].alpha == 0.01 and cfg.attack[1].steps == 10
    if stem == "s4_eurosat":
        assert cfg.train["lr"] == 2e-4 and cfg.train["optimizer"] == "adam"


def _images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _write_cifar100(root: Path, rng: np.random.Generator) -> None:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for part, n in (("train", 200), ("test", 100)):
        y = rng.permutation(np.arange(n) % 100)
        d = {b"batch_label": b"tiny", b"fine_labels": [int(v) for v in y],
             b"coarse_labels": [int(v) // 5 for v in y],
             b"data": _images(rng, n, (3 * 32 * 32,)), b"filenames": [b"x.png"] * n}
        with open(folder / part, "wb") as f:
            pickle.dump(d, f, protocol=2)


def _write_stl10(root: Path, rng: np.random.Generator) -> None:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    for part in ("train", "test"):
        x = _images(rng, 20, (3, 96, 96))
        (folder / f"{part}_X.bin").write_bytes(x.transpose(0, 1, 3, 2).tobytes())
        y = rng.permutation(np.arange(20) % 10) + 1  # labels 1..10 in the real files
        (folder / f"{part}_y.bin").write_bytes(y.astype(np.uint8).tobytes())


def _write_eurosat(root: Path, rng: np.random.Generator) -> None:
    from PIL import Image

    from qclf.data.folder import EUROSAT_CLASSES

    for cls in EUROSAT_CLASSES:
        (root / "eurosat" / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(_images(rng, 1, (64, 64, 3))[0]).save(
                root / "eurosat" / cls / f"{cls}_{i}.png")


WRITERS = {"cifar100": _write_cifar100, "stl10": _write_stl10, "eurosat": _write_eurosat}
REAL_FORMAT = [("s3_hybrid_amplitude_cifar100", "cifar100"),
               ("s3_hybrid_amplitude_stl10", "stl10"), ("s4_eurosat", "eurosat")]


@pytest.mark.parametrize(("stem", "dataset"), REAL_FORMAT)
def test_bench_models_train_one_step_on_real_format(tmp_path, monkeypatch, stem, dataset):
    from qclf.bench import load_bench
    from qclf.train import TrainConfig, fit

    monkeypatch.delenv("QCLF_DATA_DIR", raising=False)
    monkeypatch.delenv("QCLF_DATA", raising=False)
    clear_cache()
    WRITERS[dataset](tmp_path, np.random.default_rng(0))
    cfg = load_bench(ROOT / "experiments" / f"{stem}.yaml")
    assert cfg.datasets == [dataset]
    # every hybrid of the bench, and its twin, through the real loader: one epoch of one step
    names = [m.name for m in cfg.models if model_info(m.name)["kind"] != "baseline"]
    for name in names:
        train = {**cfg.train, "epochs": 1, "batch_size": 256}
        m = fit(TrainConfig(model=name, dataset=dataset, seed=0, data_dir=str(tmp_path),
                            progress=False, **{k: v for k, v in train.items()})).metrics
        assert m["history"][0]["train_loss"] > 0 and 0 <= m["test_accuracy"] <= 1
    clear_cache()

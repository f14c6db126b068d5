"""qclf.data: every loader on a tiny set written here in its real on-disk format.

Nothing here needs network or ../shared/data (one smoke test uses the latter when present).
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qclf.data import (
    CorruptDatasetError,
    DatasetInfo,
    DatasetNotFoundError,
    ImageDataset,
    clear_cache,
    dataset_info,
    list_datasets,
    load_dataset,
    resolve_data_dir,
    stratified_split,
    stratified_subset,
)
from qclf.data.digits import FRACTIONS
from qclf.registry import UnknownNameError

MNIST_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv("QCLF_DATA_DIR", raising=False)
    monkeypatch.delenv("QCLF_DATA", raising=False)
    clear_cache()
    yield
    clear_cache()


def _balanced(n_per_class: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(classes), n_per_class))


def _images(n: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _keys(x: np.ndarray) -> set[bytes]:
    """One hashable key per image (random images are distinct), to check disjointness."""
    return {bytes(row) for row in x.reshape(len(x), -1)}


# ---------------------------------------------------------------- writers (real formats)

def write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    head = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = head + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)


def make_mnist(folder: Path, gz: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = {"x_train": _images(100, (28, 28), rng), "y_train": _balanced(10, 10, rng).astype(np.uint8),
         "x_test": _images(30, (28, 28), rng), "y_test": _balanced(3, 10, rng).astype(np.uint8)}
    for stem, key in zip(MNIST_STEMS, ("x_train", "y_train", "x_test", "y_test"), strict=True):
        write_idx(folder / (stem + (".gz" if gz else "")), d[key], gz)
    return d


def make_medmnist(path: Path, classes: int, rgb: bool, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (28, 28, 3) if rgb else (28, 28)
    d = {}
    for split, per in (("train", 6), ("val", 2), ("test", 3)):
        d[f"{split}_images"] = _images(per * classes, shape, rng)
        d[f"{split}_labels"] = _balanced(per, classes, rng).astype(np.uint8)[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **d)
    return d


def write_cifar_batch(path: Path, x: np.ndarray, y: np.ndarray, label_key: bytes) -> None:
    d = {b"batch_label": b"tiny", label_key: [int(v) for v in y],
         b"data": x.reshape(len(x), -1), b"filenames": [b"%d.png" % i for i in range(len(x))]}
    if label_key == b"fine_labels":
        d[b"coarse_labels"] = [int(v) // 5 for v in y]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)


# ---------------------------------------------------------------- digits

def test_digits_splits_sizes_shapes_range():
    sets = {s: load_dataset("digits", s) for s in ("train", "val", "test")}
    assert [len(sets[s]) for s in ("train", "val", "test")] == [1078, 359, 360]
    for ds in sets.values():
        x, y = ds[torch.arange(len(ds))]
        assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() == 1.0
        assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
        assert ds.info.input_shape == (1, 8, 8) and ds.info.num_classes == 10
        assert min(ds.class_counts()) > 0.8 * max(ds.class_counts())  # stratified


def test_digits_splits_disjoint_and_fixed_by_seed():
    from sklearn.datasets import load_digits

    y = load_digits().target
    parts = stratified_split(y, FRACTIONS, seed=0)
    assert sum(len(p) for p in parts) == len(y)
    assert len(np.unique(np.concatenate(parts))) == len(y)  # disjoint and covering
    a, b = load_dataset("digits", "val", seed=0), load_dataset("digits", "val", seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    c = load_dataset("digits", "val", seed=1)
    assert not torch.equal(a.images, c.images)
    x = load_digits().images[parts[1]] / 16.0
    assert np.allclose(a.images[:, 0].numpy(), x)


# ---------------------------------------------------------------- MNIST family

@pytest.mark.parametrize("layout,gz", [("mnist", True), ("mnist", False), ("MNIST/raw", True)])
def test_mnist_idx(tmp_path, layout, gz):
    d = make_mnist(tmp_path / layout, gz=gz)
    test = load_dataset("mnist", "test", data_dir=tmp_path)
    assert test.images.dtype == torch.uint8 and test.images.shape == (30, 1, 28, 28)
    assert np.array_equal(test.images[:, 0].numpy(), d["x_test"])
    assert np.array_equal(test.labels.numpy(), d["y_test"])
    train = load_dataset("mnist", "train", data_dir=tmp_path)
    val = load_dataset("mnist", "val", data_dir=tmp_path)
    assert (len(train), len(val)) == (90, 10)
    assert val.class_counts() == [1] * 10  # 10% of each class
    again = load_dataset("mnist", "val", data_dir=tmp_path, seed=5)
    assert torch.equal(again.images, val.images)  # the carved val set is the same for every seed
    tk, vk = _keys(train.images.numpy()), _keys(val.images.numpy())
    assert not tk & vk and tk | vk == _keys(d["x_train"])
    x, y = train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1


def test_mnist_keras_npz(tmp_path):
    rng = np.random.default_rng(1)
    x_test, y_test = _images(20, (28, 28), rng), _balanced(2, 10, rng).astype(np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=_images(50, (28, 28), rng),
             y_train=_balanced(5, 10, rng).astype(np.uint8), x_test=x_test, y_test=y_test)
    ds = load_dataset("mnist", "test", data_dir=tmp_path)
    assert np.array_equal(ds.images[:, 0].numpy(), x_test)
    assert np.array_equal(ds.labels.numpy(), y_test)
    assert len(load_dataset("mnist", "train", data_dir=tmp_path)) == 45


@pytest.mark.parametrize("layout", ["fashion-mnist", "fashion_mnist", "FashionMNIST/raw"])
def test_fashion_mnist(tmp_path, layout):
    d = make_mnist(tmp_path / layout, seed=3)
    ds = load_dataset("fashion_mnist", "test", data_dir=tmp_path)
    assert np.array_equal(ds.images[:, 0].numpy(), d["x_test"])
    assert ds.info.class_names[9] == "Ankle boot"
    assert len(load_dataset("fashion-mnist", "val", data_dir=tmp_path)) == 10  # alias


def test_mnist_and_fashion_do_not_mix(tmp_path):
    make_mnist(tmp_path / "fashion-mnist")
    with pytest.raises(DatasetNotFoundError):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_idx_bad_magic(tmp_path):
    make_mnist(tmp_path / "mnist")
    bad = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(bad.read_bytes()))
    raw[2] = 0x0D  # float, not uint8
    bad.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(CorruptDatasetError, match="t10k-images-idx3-ubyte.gz.*magic"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_idx_truncated_raw_and_gzip(tmp_path):
    make_mnist(tmp_path / "mnist", gz=False)
    f = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(CorruptDatasetError, match="t10k-images-idx3-ubyte.*truncated"):
        load_dataset("mnist", "test", data_dir=tmp_path)
    f.unlink()
    write_idx(f.with_suffix(".gz"), np.zeros((30, 28, 28), np.uint8), gz=True)
    g = f.parent / "t10k-images-idx3-ubyte.gz"
    g.write_bytes(g.read_bytes()[: len(g.read_bytes()) // 2])
    with pytest.raises(CorruptDatasetError, match="t10k-images-idx3-ubyte.gz.*gzip"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_idx_count_mismatch(tmp_path):
    make_mnist(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(29, np.uint8), gz=True)
    with pytest.raises(CorruptDatasetError, match="30 images but labels"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_parsed_files_are_cached(tmp_path):
    from qclf.data.files import _cached

    make_mnist(tmp_path / "mnist")
    load_dataset("mnist", "train", data_dir=tmp_path)
    misses = _cached.cache_info().misses
    load_dataset("mnist", "val", data_dir=tmp_path)
    assert _cached.cache_info().misses == misses  # train files not parsed again


# ---------------------------------------------------------------- MedMNIST

@pytest.mark.parametrize("where", ["medmnist/breastmnist.npz", "breastmnist.npz"])
def test_medmnist_gray(tmp_path, where):
    d = make_medmnist(tmp_path / where, classes=2, rgb=False)
    for split in ("train", "val", "test"):
        ds = load_dataset("medmnist/breastmnist", split, data_dir=tmp_path)
        assert ds.images.shape[1:] == (1, 28, 28) and ds.images.dtype == torch.uint8
        assert np.array_equal(ds.images[:, 0].numpy(), d[f"{split}_images"])
        assert np.array_equal(ds.labels.numpy(), d[f"{split}_labels"].ravel())
    assert ds.info.task == "binary" and ds.info.name == "breastmnist"


def test_medmnist_rgb(tmp_path):
    d = make_medmnist(tmp_path / "medmnist" / "bloodmnist.npz", classes=8, rgb=True)
    ds = load_dataset("bloodmnist", "test", data_dir=tmp_path)
    assert ds.images.shape == (24, 3, 28, 28) and ds.info.num_classes == 8
    assert np.array_equal(ds.images.numpy(), d["test_images"].transpose(0, 3, 1, 2))
    assert ds.class_counts() == [3] * 8


def test_medmnist_bad_keys_and_labels(tmp_path):
    p = tmp_path / "medmnist" / "pneumoniamnist.npz"
    p.parent.mkdir()
    np.savez(p, train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(CorruptDatasetError, match="pneumoniamnist.npz.*missing keys"):
        load_dataset("pneumoniamnist", "train", data_dir=tmp_path)
    clear_cache()
    d = make_medmnist(p, classes=2, rgb=False)
    d["test_labels"][0] = 5
    np.savez(p, **d)
    with pytest.raises(CorruptDatasetError, match="labels outside"):
        load_dataset("pneumoniamnist", "test", data_dir=tmp_path)


def test_medmnist_registered_sets():
    counts = {"pathmnist": 9, "dermamnist": 7, "octmnist": 4, "pneumoniamnist": 2,
              "retinamnist": 5, "breastmnist": 2, "bloodmnist": 8, "tissuemnist": 8,
              "organamnist": 11, "organcmnist": 11, "organsmnist": 11}
    assert set(list_datasets("medmnist/*")) == set(counts)
    for name, k in counts.items():
        assert dataset_info(f"medmnist/{name}").num_classes == k
    with pytest.raises(ValueError, match="multi-label"):
        load_dataset("chestmnist", "train")


# ---------------------------------------------------------------- CIFAR, STL-10, EuroSAT

def test_cifar10_pickle(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "cifar-10-batches-py"
    xs, ys = [], []
    for i in range(1, 6):
        x, y = _images(20, (3, 32, 32), rng), _balanced(2, 10, rng)
        write_cifar_batch(folder / f"data_batch_{i}", x, y, b"labels")
        xs.append(x)
        ys.append(y)
    x_test, y_test = _images(10, (3, 32, 32), rng), _balanced(1, 10, rng)
    write_cifar_batch(folder / "test_batch", x_test, y_test, b"labels")
    test = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert test.images.shape == (10, 3, 32, 32) and test.images.dtype == torch.uint8
    assert np.array_equal(test.images.numpy(), x_test)  # R, G, B planes of 32x32
    assert np.array_equal(test.labels.numpy(), y_test)
    train, val = (load_dataset("cifar10", s, data_dir=tmp_path) for s in ("train", "val"))
    assert (len(train), len(val)) == (90, 10)
    tk, vk = _keys(train.images.numpy()), _keys(val.images.numpy())
    assert not tk & vk and tk | vk == _keys(np.concatenate(xs))


def test_cifar100_pickle(tmp_path):
    rng = np.random.default_rng(5)
    folder = tmp_path / "cifar-100-python"
    x, y = _images(200, (3, 32, 32), rng), _balanced(2, 100, rng)
    write_cifar_batch(folder / "train", x, y, b"fine_labels")
    write_cifar_batch(folder / "test", x[:100], y[:100], b"fine_labels")
    ds = load_dataset("cifar100", "test", data_dir=tmp_path)
    assert ds.info.num_classes == 100 and np.array_equal(ds.labels.numpy(), y[:100])
    assert (len(load_dataset("cifar100", "train", data_dir=tmp_path)),
            len(load_dataset("cifar100", "val", data_dir=tmp_path))) == (180, 20)


def test_cifar_rejects_unsafe_pickle(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": os.system}, f)  # a global outside the allow-list
    with pytest.raises(CorruptDatasetError, match="test_batch.*unexpected object"):
        load_dataset("cifar10", "test", data_dir=tmp_path)


def test_stl10_binary(tmp_path):
    rng = np.random.default_rng(6)
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    x = _images(20, (3, 96, 96), rng)
    y = _balanced(2, 10, rng)
    for part in ("train", "test"):
        # real files store each channel column-major (transposed)
        (folder / f"{part}_X.bin").write_bytes(x.transpose(0, 1, 3, 2).tobytes())
        (folder / f"{part}_y.bin").write_bytes((y + 1).astype(np.uint8).tobytes())
    ds = load_dataset("stl10", "test", data_dir=tmp_path)
    assert ds.images.shape == (20, 3, 96, 96)
    assert np.array_equal(ds.images.numpy(), x) and np.array_equal(ds.labels.numpy(), y)
    assert len(load_dataset("stl10", "train", data_dir=tmp_path)) == 18
    (folder / "test_X.bin").write_bytes(x.tobytes()[:-5])
    clear_cache()
    with pytest.raises(CorruptDatasetError, match="test_X.bin"):
        load_dataset("stl10", "test", data_dir=tmp_path)


@pytest.mark.parametrize("layout", ["eurosat", "EuroSAT/2750"])
def test_eurosat_png_folder(tmp_path, layout):
    from PIL import Image

    from qclf.data.folder import EUROSAT_CLASSES

    rng = np.random.default_rng(7)
    pixels = {}
    for c, cls in enumerate(EUROSAT_CLASSES):
        (tmp_path / layout / cls).mkdir(parents=True)
        for i in range(10):
            a = _images(1, (64, 64, 3), rng)[0]
            Image.fromarray(a).save(tmp_path / layout / cls / f"{cls}_{i}.png")
            pixels[bytes(a.transpose(2, 0, 1))] = c
    sets = {s: load_dataset("eurosat", s, data_dir=tmp_path) for s in ("train", "val", "test")}
    assert [len(sets[s]) for s in ("train", "val", "test")] == [70, 10, 20]
    assert sets["test"].class_counts() == [2] * 10
    seen = set()
    for ds in sets.values():
        assert ds.images.shape[1:] == (3, 64, 64) and ds.images.dtype == torch.uint8
        for img, lab in zip(ds.images.numpy(), ds.labels.tolist(), strict=True):
            assert pixels[bytes(img)] == lab  # exact pixels, right class
            seen.add(bytes(img))
    assert len(seen) == 100  # disjoint and complete


def test_eurosat_wrong_size(tmp_path):
    from PIL import Image

    from qclf.data.folder import EUROSAT_CLASSES

    for cls in EUROSAT_CLASSES:
        (tmp_path / "eurosat" / cls).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(tmp_path / "eurosat" / cls / "a.png")
    with pytest.raises(CorruptDatasetError, match="a.png.*expected 64x64"):
        load_dataset("eurosat", "train", data_dir=tmp_path)


# ---------------------------------------------------------------- limit, indexing, registry

def test_limit_is_stratified_and_deterministic(tmp_path):
    make_mnist(tmp_path / "mnist")
    a = load_dataset("mnist", "train", data_dir=tmp_path, limit=30, seed=0)
    b = load_dataset("mnist", "train", data_dir=tmp_path, limit=30, seed=0)
    c = load_dataset("mnist", "train", data_dir=tmp_path, limit=30, seed=1)
    assert len(a) == 30 and a.class_counts() == [3] * 10
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert len(load_dataset("mnist", "train", data_dir=tmp_path, limit=10_000)) == 90
    d = load_dataset("digits", "train", limit=100)
    assert len(d) == 100 and max(d.class_counts()) - min(d.class_counts()) <= 1
    with pytest.raises(ValueError, match="limit"):
        load_dataset("digits", "train", limit=0)


def test_stratified_subset_follows_proportions():
    labels = np.array([0] * 80 + [1] * 20)
    idx = stratified_subset(labels, 10, seed=3)
    assert len(idx) == 10 and np.bincount(labels[idx]).tolist() == [8, 2]
    assert np.array_equal(idx, stratified_subset(labels, 10, seed=3))


def test_batch_indexing():
    ds = load_dataset("digits", "test")
    idx = torch.tensor([3, 0, 7], dtype=torch.long)
    x, y = ds[idx]
    assert x.shape == (3, 1, 8, 8) and y.shape == (3,) and y.dtype == torch.int64
    for k, i in enumerate(idx.tolist()):
        xi, yi = ds[i]
        assert torch.equal(x[k], xi) and y[k] == yi
    assert torch.equal(ds[np.array([3, 0, 7])][0], x) and torch.equal(ds[[3, 0, 7]][0], x)
    assert isinstance(ds, torch.utils.data.Dataset) and isinstance(ds, ImageDataset)


def test_uint8_images_scale_to_unit_interval(tmp_path):
    make_mnist(tmp_path / "mnist")
    ds = load_dataset("mnist", "test", data_dir=tmp_path)
    x, _ = ds[torch.arange(len(ds))]
    assert torch.allclose(x, ds.images.float() / 255)


def test_missing_files_raise_one_clear_error(tmp_path):
    for name in ("mnist", "fashion_mnist", "cifar10", "cifar100", "stl10", "eurosat",
                 "pneumoniamnist"):
        with pytest.raises(DatasetNotFoundError) as e:
            load_dataset(name, "train", data_dir=tmp_path)
        msg = str(e.value)
        assert isinstance(e.value, FileNotFoundError)
        assert str(tmp_path) in msg and "QCLF_DATA" in msg and "download=True" in msg, msg
    with pytest.raises(DatasetNotFoundError, match=r"mnist[/\\]train-images-idx3-ubyte.gz"):
        load_dataset("mnist", "val", data_dir=tmp_path)


def test_download_without_backend_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails: no network is touched
    monkeypatch.setitem(sys.modules, "medmnist", None)
    for name in ("mnist", "breastmnist"):
        with pytest.raises(DatasetNotFoundError, match=r"pip install 'qclf\[data\]'"):
            load_dataset(name, "test", data_dir=tmp_path, download=True)


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'mnist'"):
        load_dataset("mnsit", "train")
    with pytest.raises(KeyError, match="pneumoniamnist"):
        load_dataset("medmnist/pneumoniamnst", "train")
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", "validation")


def test_data_dir_resolution(tmp_path, monkeypatch):
    make_mnist(tmp_path / "env" / "mnist")
    monkeypatch.setenv("QCLF_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert len(load_dataset("mnist", "test")) == 30
    with pytest.raises(DatasetNotFoundError):  # an explicit data_dir wins over the env var
        load_dataset("mnist", "test", data_dir=tmp_path / "other")
    monkeypatch.delenv("QCLF_DATA_DIR")
    assert resolve_data_dir() == Path("data")  # ./data beside the user's work
    monkeypatch.setenv("QCLF_DATA", str(tmp_path / "new"))
    monkeypatch.setenv("QCLF_DATA_DIR", str(tmp_path / "old"))
    assert resolve_data_dir() == tmp_path / "new"  # the new name wins over the older one


def test_registry_lists_every_family_with_info():
    names = list_datasets()
    for n in ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "stl10", "eurosat",
              "pneumoniamnist", "breastmnist", "bloodmnist", "organamnist"):
        assert n in names
    assert list_datasets("cifar*") == ["cifar10", "cifar100"]
    for n in names:
        info = dataset_info(n)
        assert isinstance(info, DatasetInfo) and info.name == n
        assert len(info.class_names) == info.num_classes and len(info.input_shape) == 3
        assert info.task in ("multiclass", "binary") and info.files and info.splits
        assert info.citation and info.license


# ---------------------------------------------------------------- real data (optional)

_REPO = Path(__file__).resolve().parents[1]
_SHARED = next((p for p in (Path("/work/shared/data"), _REPO.parent / "shared" / "data")
                if (p / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()), None)


@pytest.mark.skipif(_SHARED is None, reason="real data (../shared/data) not present")
def test_real_mnist_test_split():
    ds = load_dataset("mnist", "test", data_dir=_SHARED)
    assert len(ds) == 10_000 and ds.images.shape == (10_000, 1, 28, 28)
    assert ds.class_counts() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(ds.images.double().mean().item() - 33.791) < 0.01

"""CIFAR-10 and CIFAR-100 from the official "python version" pickle batches.

Accepted layouts under the data dir (torchvision's are the same):

- ``cifar-10-batches-py/{data_batch_1..5,test_batch}`` (also under ``cifar10/``);
- ``cifar-100-python/{train,test}`` (also under ``cifar100/``), fine labels (100 classes).

Each batch is a pickled dict with ``data`` (N, 3072) uint8 (R, G, B planes of 32x32) and
``labels`` / ``fine_labels``. Unpickling is restricted to plain containers and numpy arrays, so a
tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from qclf.data.catalog import register_dataset
from qclf.data.errors import CorruptDatasetError, DatasetNotFoundError
from qclf.data.files import cached_read, import_for_download
from qclf.data.splits import carve_val

SPLITS_DOC = ("test: the official 10,000-image test batch; train/val: the official 50,000-image "
              "train set split 90/10 per class with a fixed seed (val = 5,000 images).")
CITATION = "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, tech. rep., 2009."
SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html"

_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"), ("builtins", "bytearray"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch as read-only ((N, 3, 32, 32) uint8 images, (N,) int64 labels)."""
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise CorruptDatasetError(path, f"not a CIFAR pickle batch ({e})") from None
    if not isinstance(d, dict):
        raise CorruptDatasetError(path, f"expected a pickled dict, got {type(d).__name__}")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    key = "labels" if "labels" in d else "fine_labels"
    if "data" not in d or key not in d:
        raise CorruptDatasetError(path, f"batch lacks 'data' and 'labels'/'fine_labels' (has "
                                        f"{sorted(d)})")
    data = np.asarray(d["data"])
    labels = np.asarray(d[key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise CorruptDatasetError(path, f"data must be uint8 (N, 3072), got {data.dtype} "
                                        f"{data.shape}")
    if labels.shape != (len(data),):
        raise CorruptDatasetError(path, f"{len(data)} images but labels of shape {labels.shape}")
    images = data.reshape(-1, 3, 32, 32)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


class _Cifar:
    def __init__(self, name: str, folder: str, train: tuple[str, ...], test: str, classes: int,
                 tv_class: str) -> None:
        self.name, self.folder, self.train, self.test = name, folder, train, test
        self.classes, self.tv_class = classes, tv_class

    def _dirs(self, root: Path) -> list[Path]:
        return [root / self.folder, root / self.name / self.folder]

    def _files(self, part: str) -> tuple[str, ...]:
        return (self.test,) if part == "test" else self.train

    def _find(self, root: Path, part: str) -> list[Path] | None:
        for d in self._dirs(root):
            files = [d / f for f in self._files(part)]
            if all(p.is_file() for p in files):
                return files
        return None

    def load(self, split: str, root: Path, *, seed: int, download: bool
             ) -> tuple[np.ndarray, np.ndarray]:
        part = "test" if split == "test" else "train"
        files = self._find(root, part)
        expected = [d / self._files(part)[0] for d in self._dirs(root)]
        fmt = f"the CIFAR python pickle batches ({', '.join(self._files(part))})"
        if files is None:
            if not download:
                raise DatasetNotFoundError(self.name, expected, fmt)
            tv = import_for_download("torchvision", self.name, expected, fmt)
            try:
                for train in (True, False):
                    getattr(tv.datasets, self.tv_class)(str(root), train=train, download=True)
            except Exception as e:  # network errors come in many types
                raise DatasetNotFoundError(self.name, expected, fmt,
                                           hint=f"download via torchvision failed ({e})") from e
            files = self._find(root, part)
            if files is None:
                raise DatasetNotFoundError(self.name, expected, fmt)
        batches = [cached_read(p, read_batch) for p in files]
        images = np.concatenate([b[0] for b in batches]) if len(batches) > 1 else batches[0][0]
        labels = np.concatenate([b[1] for b in batches]) if len(batches) > 1 else batches[0][1]
        if labels.size and (labels.min() < 0 or labels.max() >= self.classes):
            raise CorruptDatasetError(files[0].parent, f"labels outside 0..{self.classes - 1}")
        if split != "test":
            idx = carve_val(labels, split)
            images, labels = images[idx], labels[idx]
        return images, labels


_C10 = _Cifar("cifar10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)),
              "test_batch", 10, "CIFAR10")
_C100 = _Cifar("cifar100", "cifar-100-python", ("train",), "test", 100, "CIFAR100")

CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)


@register_dataset(
    "cifar10",
    num_classes=10,
    input_shape=(3, 32, 32),
    class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"),
    files=("cifar-10-batches-py/{data_batch_1..5,test_batch}",
           "cifar10/cifar-10-batches-py/<same>"),
    splits=SPLITS_DOC,
    source=SOURCE,
    citation=CITATION,
    license="unspecified (free for research use, as commonly stated)",
    aliases=("cifar-10",),
)
def load_cifar10(split: str, root: Path, *, seed: int, download: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
    return _C10.load(split, root, seed=seed, download=download)


@register_dataset(
    "cifar100",
    num_classes=100,
    input_shape=(3, 32, 32),
    class_names=tuple(CIFAR100_CLASSES),
    files=("cifar-100-python/{train,test}", "cifar100/cifar-100-python/<same>"),
    splits=SPLITS_DOC + " Labels are the 100 fine labels.",
    source=SOURCE,
    citation=CITATION,
    license="unspecified (free for research use, as commonly stated)",
    aliases=("cifar-100",),
)
def load_cifar100(split: str, root: Path, *, seed: int, download: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    return _C100.load(split, root, seed=seed, download=download)

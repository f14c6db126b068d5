"""MNIST and Fashion-MNIST: IDX files (gzip or raw) or a keras-style ``mnist.npz``.

Accepted layouts under the data dir (first match wins, IDX before npz):

- ``mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (the original distribution),
  also torchvision's ``MNIST/raw/``;
- ``fashion-mnist/`` or ``fashion_mnist/`` with the same file names, also ``FashionMNIST/raw/``;
- ``mnist.npz`` / ``mnist/mnist.npz`` (keras: x_train, y_train, x_test, y_test), and
  ``fashion_mnist.npz`` / ``fashion-mnist.npz`` likewise.
"""

from __future__ import annotations

import gzip
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from qclf.data.catalog import register_dataset
from qclf.data.errors import CorruptDatasetError, DatasetNotFoundError
from qclf.data.files import cached_read, import_for_download
from qclf.data.splits import carve_val

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SPLITS_DOC = ("test: the official 10,000-image test set; train/val: the official 60,000-image "
              "train set split 90/10 per class with a fixed seed (val = 6,000 images).")


def read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file is gzip (by its magic bytes, not its name)."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as e:
        raise CorruptDatasetError(path, f"truncated or corrupt gzip stream ({e})") from None


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file of unsigned bytes into a read-only array of its declared shape."""
    raw = read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] not in (1, 3):
        magic = raw[:4].hex() if len(raw) >= 4 else f"{len(raw)} bytes"
        raise CorruptDatasetError(path, f"not an IDX uint8 file: magic number 0x{magic}, expected "
                                        f"0x{IMAGES_MAGIC:08x} (images) or 0x{LABELS_MAGIC:08x} "
                                        "(labels)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDatasetError(path, "truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise CorruptDatasetError(path, f"IDX header declares shape {dims} ({expected} bytes) but "
                                        f"the file holds {len(raw)} bytes (truncated?)")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(z.files)
            if missing:
                raise CorruptDatasetError(path, f"npz lacks keys {sorted(missing)} (has "
                                                f"{sorted(z.files)})")
            out = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        if isinstance(e, CorruptDatasetError):
            raise
        raise CorruptDatasetError(path, f"not a readable npz archive ({e})") from None
    for a in out.values():
        a.flags.writeable = False
    return out


def _check(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise CorruptDatasetError(where, f"images must be uint8 (N, 28, 28), got "
                                         f"{images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise CorruptDatasetError(where, f"{len(images)} images but labels of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise CorruptDatasetError(where, f"labels outside 0..9 (min {labels.min()}, "
                                         f"max {labels.max()})")


class _Family:
    def __init__(self, name: str, dirs: tuple[str, ...], npz: tuple[str, ...], tv_class: str,
                 tv_dir: str) -> None:
        self.name, self.dirs, self.npz = name, dirs, npz
        self.tv_class, self.tv_dir = tv_class, tv_dir

    def _find_idx(self, root: Path, part: str) -> tuple[Path, Path] | None:
        for d in (*self.dirs, f"{self.tv_dir}/raw"):
            found = []
            for stem in STEMS[part]:
                hit = next((p for p in (root / d / f"{stem}.gz", root / d / stem) if p.is_file()),
                           None)
                found.append(hit)
            if all(found):
                return found[0], found[1]
        return None

    def _expected(self, root: Path, part: str) -> list[Path]:
        return ([root / d / f"{STEMS[part][0]}.gz" for d in self.dirs]
                + [root / self.tv_dir / "raw" / STEMS[part][0]] + [root / n for n in self.npz])

    def read(self, root: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
        found = self._find_idx(root, part)
        if found:
            images, labels = cached_read(found[0], read_idx), cached_read(found[1], read_idx)
            _check(images, labels, f"{found[0]} + {found[1].name}")
            return images, labels
        npz = next((root / n for n in self.npz if (root / n).is_file()), None)
        if npz:
            d = cached_read(npz, _read_npz)
            images, labels = d[f"x_{part}"], d[f"y_{part}"]
            _check(images, labels, str(npz))
            return images, labels
        raise FileNotFoundError

    def load(self, split: str, root: Path, *, seed: int, download: bool
             ) -> tuple[np.ndarray, np.ndarray]:
        part = "test" if split == "test" else "train"
        fmt = ("IDX files (train/t10k images-idx3 + labels-idx1, .gz or raw) or a keras-style "
               ".npz (x_train, y_train, x_test, y_test)")
        try:
            images, labels = self.read(root, part)
        except FileNotFoundError:
            if not download:
                raise DatasetNotFoundError(self.name, self._expected(root, part), fmt) from None
            tv = import_for_download("torchvision", self.name, self._expected(root, part), fmt)
            try:
                for train in (True, False):
                    getattr(tv.datasets, self.tv_class)(str(root), train=train, download=True)
            except Exception as e:  # network errors come in many types
                raise DatasetNotFoundError(self.name, self._expected(root, part), fmt,
                                           hint=f"download via torchvision failed ({e}); put the "
                                                "files there by hand") from e
            images, labels = self.read(root, part)
        if split != "test":
            idx = carve_val(labels, split)
            images, labels = images[idx], labels[idx]
        return images[:, None], labels.astype(np.int64)


_MNIST = _Family("mnist", ("mnist",), ("mnist.npz", "mnist/mnist.npz"), "MNIST", "MNIST")
_FASHION = _Family("fashion_mnist", ("fashion-mnist", "fashion_mnist"),
                   ("fashion_mnist.npz", "fashion-mnist.npz", "fashion-mnist/fashion_mnist.npz"),
                   "FashionMNIST", "FashionMNIST")


@register_dataset(
    "mnist",
    num_classes=10,
    input_shape=(1, 28, 28),
    class_names=tuple(str(i) for i in range(10)),
    files=("mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]",
           "MNIST/raw/<same names> (torchvision)", "mnist.npz (keras)"),
    splits=SPLITS_DOC,
    source="http://yann.lecun.com/exdb/mnist/",
    citation="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, Gradient-based learning applied to "
             "document recognition, Proc. IEEE, 1998.",
    license="CC BY-SA 3.0",
)
def load_mnist(split: str, root: Path, *, seed: int, download: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    return _MNIST.load(split, root, seed=seed, download=download)


@register_dataset(
    "fashion_mnist",
    num_classes=10,
    input_shape=(1, 28, 28),
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    files=("fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (or fashion_mnist/)",
           "FashionMNIST/raw/<same names> (torchvision)", "fashion_mnist.npz (keras)"),
    splits=SPLITS_DOC,
    source="https://github.com/zalandoresearch/fashion-mnist",
    citation="H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST: a Novel Image Dataset for "
             "Benchmarking Machine Learning Algorithms, arXiv:1708.07747, 2017.",
    license="MIT",
    aliases=("fashion-mnist", "fashionmnist"),
)
def load_fashion_mnist(split: str, root: Path, *, seed: int, download: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
    return _FASHION.load(split, root, seed=seed, download=download)

"""STL-10 (labelled part) from the official binary files.

Accepted layouts under the data dir: ``stl10_binary/{train,test}_{X,y}.bin`` (torchvision's too),
also under ``stl10/``. ``*_X.bin`` holds uint8 images of 3x96x96 in column-major order (each
channel is stored transposed); ``*_y.bin`` holds one uint8 label per image, 1..10. The unlabelled
split is not used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qclf.data.catalog import register_dataset
from qclf.data.errors import CorruptDatasetError, DatasetNotFoundError
from qclf.data.files import cached_read, import_for_download
from qclf.data.splits import carve_val

IMAGE_BYTES = 3 * 96 * 96
FORMAT = "the STL-10 binary files ({train,test}_X.bin uint8 3x96x96 column-major, _y.bin 1..10)"


def read_images(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % IMAGE_BYTES:
        raise CorruptDatasetError(path, f"{raw.size} bytes is not a whole number of 3x96x96 "
                                        "images (truncated?)")
    x = raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)  # stored column-major per channel
    x = np.ascontiguousarray(x)
    x.flags.writeable = False
    return x


def read_labels(path: Path) -> np.ndarray:
    y = np.fromfile(path, dtype=np.uint8).astype(np.int64)
    if y.size and (y.min() < 1 or y.max() > 10):
        raise CorruptDatasetError(path, f"labels must be 1..10, got {y.min()}..{y.max()}")
    y -= 1
    y.flags.writeable = False
    return y


def _dirs(root: Path) -> list[Path]:
    return [root / "stl10_binary", root / "stl10" / "stl10_binary"]


def _find(root: Path, part: str) -> tuple[Path, Path] | None:
    for d in _dirs(root):
        xs, ys = d / f"{part}_X.bin", d / f"{part}_y.bin"
        if xs.is_file() and ys.is_file():
            return xs, ys
    return None


@register_dataset(
    "stl10",
    num_classes=10,
    input_shape=(3, 96, 96),
    class_names=("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                 "truck"),
    files=("stl10_binary/{train,test}_{X,y}.bin", "stl10/stl10_binary/<same>"),
    splits="test: the official 8,000 test images; train/val: the official 5,000 labelled train "
           "images split 90/10 per class with a fixed seed (val = 500 images).",
    source="https://cs.stanford.edu/~acoates/stl10/",
    citation="A. Coates, H. Lee, A. Y. Ng, An Analysis of Single Layer Networks in Unsupervised "
             "Feature Learning, AISTATS, 2011.",
    license="unspecified (images from ImageNet; research use, as commonly stated)",
    aliases=("stl-10",),
)
def load_stl10(split: str, root: Path, *, seed: int, download: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    part = "test" if split == "test" else "train"
    expected = [d / f"{part}_X.bin" for d in _dirs(root)]
    found = _find(root, part)
    if found is None:
        if not download:
            raise DatasetNotFoundError("stl10", expected, FORMAT)
        tv = import_for_download("torchvision", "stl10", expected, FORMAT)
        try:
            tv.datasets.STL10(str(root), split=part, download=True)
        except Exception as e:  # network errors come in many types
            raise DatasetNotFoundError("stl10", expected, FORMAT,
                                       hint=f"download via torchvision failed ({e})") from e
        found = _find(root, part)
        if found is None:
            raise DatasetNotFoundError("stl10", expected, FORMAT)
    images, labels = cached_read(found[0], read_images), cached_read(found[1], read_labels)
    if len(images) != len(labels):
        raise CorruptDatasetError(found[0], f"{len(images)} images but {len(labels)} labels in "
                                            f"{found[1].name}")
    if split != "test":
        idx = carve_val(labels, split)
        images, labels = images[idx], labels[idx]
    return images, labels

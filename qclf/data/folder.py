"""Image-folder trees (``<tree>/<ClassName>/*.jpg|png|tif``) and EuroSAT, the one registered user.

EuroSAT (RGB) layouts accepted under the data dir: ``eurosat/<Class>/``, ``eurosat/2750/<Class>/``
(torchvision), ``EuroSAT/2750/<Class>/``, ``EuroSAT/<Class>/`` and ``EuroSAT_RGB/<Class>/`` (the
current zip). Images are RGB 64x64. EuroSAT has no official split, so train/val/test are a fixed
stratified 70/10/20 split (seed 0, the same for every run seed).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from qclf.data.catalog import register_dataset
from qclf.data.errors import CorruptDatasetError, DatasetNotFoundError
from qclf.data.files import import_for_download
from qclf.data.splits import VAL_SEED, stratified_split

EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
EUROSAT_CLASSES = ("AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
                   "Pasture", "PermanentCrop", "Residential", "River", "SeaLake")
EUROSAT_DIRS = ("eurosat/2750", "eurosat", "EuroSAT/2750", "EuroSAT", "EuroSAT_RGB",
                "eurosat/EuroSAT_RGB")
EUROSAT_FRACTIONS = (0.7, 0.1, 0.2)


def _read_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("RGB", "RGBA", "L", "P"):
                raise CorruptDatasetError(path, f"image mode {im.mode} is not RGB (the 13-band "
                                                "EuroSAT MS tiffs are not supported; use the RGB "
                                                "version)")
            if im.size != (size[1], size[0]):
                raise CorruptDatasetError(path, f"image is {im.size[0]}x{im.size[1]}, expected "
                                                f"{size[1]}x{size[0]}")
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise CorruptDatasetError(path, f"unreadable image ({e})") from None


@functools.lru_cache(maxsize=2)
def _read_tree(tree: str, classes: tuple[str, ...], size: tuple[int, int],
               stamp: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (Path(tree) / cls).iterdir()
                       if p.suffix.lower() in EXTENSIONS and p.is_file())
        if not files:
            raise CorruptDatasetError(Path(tree) / cls, f"no {'/'.join(EXTENSIONS)} images")
        images += [_read_image(p, size) for p in files]
        labels += [label] * len(files)
    x = np.stack(images).transpose(0, 3, 1, 2).copy()
    y = np.asarray(labels, dtype=np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def read_image_folder(tree: Path, classes: tuple[str, ...], size: tuple[int, int]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """All images of ``tree/<class>/`` as ((N, 3, H, W) uint8, (N,) labels by ``classes`` order).

    Files are read in sorted order; results are cached in-process until a class dir changes.
    """
    missing = [c for c in classes if not (tree / c).is_dir()]
    if missing:
        raise CorruptDatasetError(tree, f"image-folder tree lacks class folders {missing}")
    stamp = tuple((tree / c).stat().st_mtime_ns for c in classes)
    return _read_tree(str(tree.resolve()), tuple(classes), tuple(size), stamp)


def _find_eurosat(root: Path) -> Path | None:
    for d in EUROSAT_DIRS:
        if any((root / d / c).is_dir() for c in EUROSAT_CLASSES):
            return root / d
    return None


@register_dataset(
    "eurosat",
    num_classes=10,
    input_shape=(3, 64, 64),
    class_names=EUROSAT_CLASSES,
    files=tuple(f"{d}/<Class>/*.jpg|png|tif" for d in EUROSAT_DIRS),
    splits="no official split: a fixed stratified 70/10/20 train/val/test split (seed 0, "
           "independent of the run seed) of all 27,000 images.",
    source="https://github.com/phelber/EuroSAT (RGB version, Sentinel-2)",
    citation="P. Helber, B. Bischke, A. Dengel, D. Borth, EuroSAT: A Novel Dataset and Deep "
             "Learning Benchmark for Land Use and Land Cover Classification, IEEE JSTARS, 2019.",
    license="MIT",
)
def load_eurosat(split: str, root: Path, *, seed: int, download: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
    tree = _find_eurosat(root)
    fmt = f"an image-folder tree (<Class>/*.jpg|png|tif, RGB 64x64; classes {EUROSAT_CLASSES})"
    expected = [root / d for d in EUROSAT_DIRS[:3]]
    if tree is None:
        if not download:
            raise DatasetNotFoundError("eurosat", expected, fmt)
        tv = import_for_download("torchvision", "eurosat", expected, fmt)
        try:
            tv.datasets.EuroSAT(str(root), download=True)
        except Exception as e:  # network errors come in many types
            raise DatasetNotFoundError("eurosat", expected, fmt,
                                       hint=f"download via torchvision failed ({e})") from e
        tree = _find_eurosat(root)
        if tree is None:
            raise DatasetNotFoundError("eurosat", expected, fmt)
    x, y = read_image_folder(tree, EUROSAT_CLASSES, (64, 64))
    idx = stratified_split(y, EUROSAT_FRACTIONS, VAL_SEED)[("train", "val", "test").index(split)]
    return x[idx], y[idx]

"""MedMNIST v2 2-D data sets (28x28) from their official ``.npz`` files.

Accepted layouts: ``medmnist/<name>.npz`` or ``<name>.npz`` under the data dir, with keys
``{train,val,test}_images`` ((N, H, W) gray or (N, H, W, 3) RGB, uint8) and
``{train,val,test}_labels`` ((N, 1)). All three splits are the official ones. Each set is
registered as ``<name>`` with the alias ``medmnist/<name>``; the multi-label ChestMNIST is not a
single-label classification task and raises a clear error.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np

from qclf.data.catalog import refuse_dataset, register_dataset
from qclf.data.errors import CorruptDatasetError, DatasetNotFoundError
from qclf.data.files import cached_read, import_for_download

KEYS = tuple(f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels"))
FORMAT = ("the official MedMNIST .npz (keys train_images, train_labels, val_images, val_labels, "
          "test_images, test_labels)")
CITATION = ("J. Yang et al., MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D "
            "biomedical image classification, Scientific Data, 2023.")

ORGANS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver",
          "lung-left", "lung-right", "pancreas", "spleen")
# name -> (channels, class names, source of the images)
SETS: dict[str, tuple[int, tuple[str, ...], str]] = {
    "pathmnist": (3, ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                      "normal colon mucosa", "cancer-associated stroma",
                      "colorectal adenocarcinoma epithelium"),
                  "colon pathology, NCT-CRC-HE-100K (Kather et al. 2019)"),
    "dermamnist": (3, ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                       "benign keratosis-like lesions", "dermatofibroma", "melanoma",
                       "melanocytic nevi", "vascular lesions"),
                   "dermatoscopy, HAM10000 (Tschandl et al. 2018)"),
    "octmnist": (1, ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
                 "retinal OCT (Kermany et al. 2018)"),
    "pneumoniamnist": (1, ("normal", "pneumonia"), "pediatric chest X-ray (Kermany et al. 2018)"),
    "retinamnist": (3, ("0", "1", "2", "3", "4"),
                    "fundus camera, DeepDRiD (diabetic retinopathy grade, ordinal)"),
    "breastmnist": (1, ("malignant", "normal, benign"),
                    "breast ultrasound (Al-Dhabyani et al. 2020)"),
    "bloodmnist": (3, ("basophil", "eosinophil", "erythroblast", "immature granulocytes",
                       "lymphocyte", "monocyte", "neutrophil", "platelet"),
                   "blood cell microscopy (Acevedo et al. 2020)"),
    "tissuemnist": (1, ("collecting duct, connecting tubule", "distal convoluted tubule",
                        "glomerular endothelial cells", "interstitial endothelial cells",
                        "leukocytes", "podocytes", "proximal tubule segments",
                        "thick ascending limb"),
                    "kidney cortex microscopy (Woloshuk et al. 2021)"),
    "organamnist": (1, ORGANS, "abdominal CT, axial view (LiTS, Bilic et al. 2019)"),
    "organcmnist": (1, ORGANS, "abdominal CT, coronal view (LiTS, Bilic et al. 2019)"),
    "organsmnist": (1, ORGANS, "abdominal CT, sagittal view (LiTS, Bilic et al. 2019)"),
}


def read_medmnist_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise CorruptDatasetError(path, f"not a MedMNIST npz: missing keys {missing} "
                                                f"(has {sorted(z.files)})")
            out = {k: z[k] for k in KEYS}
    except CorruptDatasetError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise CorruptDatasetError(path, f"not a readable npz archive ({e})") from None
    for a in out.values():
        a.flags.writeable = False
    return out


def _expected(root: Path, name: str) -> list[Path]:
    return [root / "medmnist" / f"{name}.npz", root / f"{name}.npz"]


def _to_nchw(images: np.ndarray, labels: np.ndarray, channels: int, num_classes: int,
             where: str) -> tuple[np.ndarray, np.ndarray]:
    if images.dtype != np.uint8:
        raise CorruptDatasetError(where, f"images must be uint8, got {images.dtype}")
    if channels == 1 and images.ndim == 3:
        x = images[:, None]
    elif channels == 3 and images.ndim == 4 and images.shape[-1] == 3:
        x = images.transpose(0, 3, 1, 2)
    else:
        kind = "(N, H, W) gray" if channels == 1 else "(N, H, W, 3) RGB"
        raise CorruptDatasetError(where, f"images must be {kind}, got shape {images.shape}")
    if labels.ndim == 2 and labels.shape[1] != 1:
        raise CorruptDatasetError(where, f"labels must be (N, 1) single-label, got {labels.shape}")
    y = labels.reshape(-1).astype(np.int64)
    if len(y) != len(x):
        raise CorruptDatasetError(where, f"{len(x)} images but {len(y)} labels")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise CorruptDatasetError(where, f"labels outside 0..{num_classes - 1}")
    return x, y


def _load(name: str, split: str, root: Path, *, seed: int, download: bool
          ) -> tuple[np.ndarray, np.ndarray]:
    channels, classes, _ = SETS[name]
    path = next((p for p in _expected(root, name) if p.is_file()), None)
    if path is None:
        if not download:
            raise DatasetNotFoundError(name, _expected(root, name), FORMAT)
        mm = import_for_download("medmnist", name, _expected(root, name), FORMAT)
        target = root / "medmnist"
        target.mkdir(parents=True, exist_ok=True)
        try:
            getattr(mm, mm.INFO[name]["python_class"])(split="test", root=str(target),
                                                       download=True)
        except Exception as e:  # network errors come in many types
            raise DatasetNotFoundError(name, _expected(root, name), FORMAT,
                                       hint=f"download via medmnist failed ({e}); put the file "
                                            "there by hand") from e
        path = target / f"{name}.npz"
    d = cached_read(path, read_medmnist_npz)
    return _to_nchw(d[f"{split}_images"], d[f"{split}_labels"], channels, len(classes),
                    f"{path} [{split}]")


for _name, (_c, _classes, _src) in SETS.items():
    register_dataset(
        _name,
        num_classes=len(_classes),
        input_shape=(_c, 28, 28),
        class_names=_classes,
        task="binary" if len(_classes) == 2 else "multiclass",
        files=(f"medmnist/{_name}.npz", f"{_name}.npz"),
        splits="train/val/test: the official MedMNIST splits.",
        source=f"MedMNIST v2 (https://medmnist.com), {_src}",
        citation=CITATION,
        license="CC BY-NC 4.0" if _name == "dermamnist" else "CC BY 4.0",
        aliases=(f"medmnist/{_name}",),
        notes="ordinal labels (diabetic retinopathy grade 0-4)" if _name == "retinamnist" else "",
    )(functools.partial(_load, _name))


refuse_dataset("chestmnist", "chestmnist is multi-label (14 findings per image) and qclf trains "
               "single-label classifiers; use pneumoniamnist for a chest X-ray task",
               aliases=("medmnist/chestmnist",))

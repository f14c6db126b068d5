"""Image-classification data sets: ``load_dataset(name, split)`` and the registry around it.

>>> from qclf.data import load_dataset, list_datasets
>>> ds = load_dataset("digits", "train")
>>> x, y = ds[torch.arange(32)]  # a whole batch, x float32 in [0, 1]

Each family lives in its own module and registers itself on import; real-data loaders read local
files first (see ``dataset_info(name).files``) and touch the network only with ``download=True``.
"""

from qclf.data import cifar, digits, folder, idx, medmnist, stl10  # noqa: F401  (registration)
from qclf.data.catalog import (
    DATASETS,
    SPLITS,
    UnsupportedDatasetError,
    canonical_name,
    dataset_info,
    list_datasets,
    load_dataset,
    register_dataset,
)
from qclf.data.dataset import DatasetInfo, ImageDataset
from qclf.data.errors import CorruptDatasetError, DatasetNotFoundError
from qclf.data.files import ENV_VAR, clear_cache, resolve_data_dir
from qclf.data.splits import VAL_FRACTION, stratified_split, stratified_subset

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "SPLITS",
    "VAL_FRACTION",
    "CorruptDatasetError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "ImageDataset",
    "UnsupportedDatasetError",
    "canonical_name",
    "clear_cache",
    "dataset_info",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "resolve_data_dir",
    "stratified_split",
    "stratified_subset",
]

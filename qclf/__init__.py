"""qclf: hybrid quantum-classical image classification.

The top-level names are loaded on first use so that ``qclf --help`` and data-only work do not
pay for importing PennyLane.

    import qclf
    model = qclf.create_model("hqnn_parallel", dataset="digits")
    result = qclf.fit(qclf.TrainConfig(model="hqnn_parallel", dataset="digits", epochs=5))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "TorchLayer": "qclf.quantum",
    "create_model": "qclf.models",
    "list_models": "qclf.models",
    "register_model": "qclf.models",
    "load_dataset": "qclf.data",
    "list_datasets": "qclf.data",
    "dataset_info": "qclf.data",
    "TrainConfig": "qclf.train",
    "fit": "qclf.train",
    "evaluate": "qclf.evaluate",
    "count_parameters": "qclf.layers",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qclf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

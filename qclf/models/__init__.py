"""Registered models: ``create_model(name, dataset=... | num_classes=..., input_shape=...)``.

Importing this package registers every model family: each module of this package that is not
infrastructure is one family (one published system) and registers its builders on import.
"""

import importlib
import pkgutil

from qclf.models.base import BlockClassifier, InputShapeError, flat_size
from qclf.models.registry import MODELS, create_model, list_models, model_info, register_model

_INFRASTRUCTURE = {"base", "registry", "backbones"}
for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod not in _INFRASTRUCTURE and not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")

__all__ = ["MODELS", "BlockClassifier", "InputShapeError", "create_model", "flat_size",
           "list_models", "model_info", "register_model"]

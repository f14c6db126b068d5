"""Registered models: ``create_model(name, dataset=... | num_classes=..., input_shape=...)``.

Importing this package registers every model family (one module per published system).
"""

from qclf.models import hqnn_parallel  # noqa: F401  (registers S1)
from qclf.models.base import BlockClassifier, InputShapeError, flat_size
from qclf.models.registry import MODELS, create_model, list_models, model_info, register_model

__all__ = ["MODELS", "BlockClassifier", "InputShapeError", "create_model", "flat_size",
           "list_models", "model_info", "register_model"]

"""The model registry: ``register_model``, ``create_model``, ``list_models`` (as in timm).

Builders take ``num_classes`` and ``input_shape`` (C, H, W) plus their own options; the
registry fills those two from a data set name so a config only has to name things.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from qclf.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def register_model(name: str | None = None, **meta: Any):
    """Register a builder. Useful metadata: ``paper`` (S1..S7), ``kind`` (hybrid/classical),
    ``twin`` (the classical twin of a hybrid), ``twin_of``, ``baseline_of``, ``summary``."""
    return MODELS.register(name, **meta)


def list_models(pattern: str = "*", **meta_filter: Any) -> list[str]:
    """Names matching a glob ``pattern`` and, optionally, metadata values (``kind="hybrid"``)."""
    return [n for n in MODELS.names(pattern)
            if all(MODELS.meta(n).get(k) == v for k, v in meta_filter.items())]


def model_info(name: str) -> dict[str, Any]:
    builder = MODELS.get(name)
    doc = (builder.__doc__ or "").strip().splitlines()
    return {"name": name, "summary": doc[0] if doc else "", **MODELS.meta(name)}


def create_model(name: str, *, num_classes: int | None = None,
                 input_shape: tuple[int, int, int] | None = None, dataset: str | None = None,
                 **kwargs: Any) -> nn.Module:
    """Build a registered model by name.

    Pass ``dataset="mnist"`` to take the class count and image shape from the data registry,
    or give ``num_classes`` and ``input_shape`` directly. Other keyword arguments go to the
    builder and are checked by it (an unknown option is a ``TypeError`` naming it).
    """
    builder = MODELS.get(name)
    if dataset is not None:
        from qclf.data import dataset_info

        info = dataset_info(dataset)
        num_classes = num_classes or info.num_classes
        input_shape = input_shape or tuple(info.input_shape)
    if num_classes is None or input_shape is None:
        raise ValueError(
            f"create_model({name!r}) needs num_classes and input_shape, or dataset=NAME to take "
            "them from the data registry."
        )
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape}")
    try:
        return builder(num_classes=int(num_classes), input_shape=tuple(input_shape), **kwargs)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise TypeError(f"model {name!r}: {exc}") from None
        raise

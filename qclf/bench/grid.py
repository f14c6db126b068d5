"""The ``grid:`` section of a bench: a sweep over training options and builder options.

``grid: {depth: [1, 2, 3], lr: [1e-3, 3e-3]}`` expands every model of the bench into one model
entry per grid point it is affected by. A key is a *training* key (one of ``train:``'s keys,
e.g. ``lr``) and then applies to every model, or a *builder option* (e.g. ``depth``) and then
applies to the models whose builder accepts it; a model that accepts none of the keys runs once
and is the reference of every grid point. Each expanded entry gets a folder-safe label
(``hqnn_parallel+depth2+lr0.003``) and remembers its grid point, so the summary groups rows by
point and plots accuracy against each grid variable.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from qclf.bench.config import TRAIN_KEYS, BenchConfigError, ModelSpec


def _accepts(model: str, key: str) -> bool:
    from qclf.models.registry import MODELS

    params = inspect.signature(MODELS.get(model)).parameters
    return key in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def parse_grid(d: Any, models: Sequence[ModelSpec]) -> dict[str, list[Any]]:
    """Validate ``grid:``: a mapping of key -> non-empty list of distinct values."""
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise BenchConfigError(f"grid must be a mapping of option -> list of values, got {d!r}")
    grid: dict[str, list[Any]] = {}
    for key, values in d.items():
        key = str(key)
        if key == "epochs":
            raise BenchConfigError("grid.epochs is not supported: set train.epochs (every run "
                                   "records its full learning curve)")
        if not isinstance(values, list) or not values:
            raise BenchConfigError(f"grid.{key} must be a non-empty list, got {values!r}")
        if len({repr(v) for v in values}) != len(values):
            raise BenchConfigError(f"grid.{key} lists a value twice: {values}")
        if key in ("lr", "weight_decay", "label_smoothing"):
            try:
                values = [float(v) for v in values]
            except (TypeError, ValueError):
                raise BenchConfigError(f"grid.{key} must be numbers, got {values!r}") from None
        if key in TRAIN_KEYS:
            from qclf.train import TrainConfig

            for v in values:  # the loop's own checks (batch_size >= 1, known optimiser, ...)
                try:
                    TrainConfig(**{key: v})
                except (TypeError, ValueError) as exc:
                    raise BenchConfigError(f"grid.{key} value {v!r}: {exc}") from None
        elif not any(_accepts(m.name, key) for m in models):
            raise BenchConfigError(
                f"grid.{key} applies to no model of the bench: it is neither a train key "
                f"{list(TRAIN_KEYS)} nor a builder option of {[m.name for m in models]}")
        grid[key] = list(values)
    return grid


def _label_part(key: str, value: Any) -> str:
    text = format(value, "g") if isinstance(value, float) else str(value)
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)
    return f"{key}{safe}"


def point_label(point: Mapping[str, Any]) -> str:
    """``depth=2, lr=0.003`` for tables and plots (``-`` for the point-free reference)."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in point.items()) or "-"


def expand_models(models: Sequence[ModelSpec], grid: Mapping[str, list[Any]]) -> list[ModelSpec]:
    """One :class:`ModelSpec` per (model, grid point it is affected by), in a stable order."""
    if not grid:
        return list(models)
    out: list[ModelSpec] = []
    for m in models:
        keys = [k for k in grid if k in TRAIN_KEYS or _accepts(m.name, k)]
        if not keys:
            out.append(m)
            continue
        for values in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            kw = {**m.kw, **{k: v for k, v in point.items() if k not in TRAIN_KEYS}}
            train = {k: v for k, v in point.items() if k in TRAIN_KEYS}
            label = "+".join([m.label, *(_label_part(k, v) for k, v in point.items())])
            out.append(ModelSpec(m.name, kw, label, train=train, point=point))
    return out

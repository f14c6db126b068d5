"""Parameter counts split into quantum (circuit weights) and classical parts."""

from __future__ import annotations

import pennylane as qml
from torch import nn

from qclf.quantum import TorchLayer


def is_quantum_module(module: nn.Module) -> bool:
    """A TorchLayer (PennyLane's or qclf's) or any module marked ``is_quantum = True``."""
    if isinstance(module, (qml.qnn.TorchLayer, TorchLayer)):
        return True
    return getattr(module, "is_quantum", False) is True


def count_parameters(module: nn.Module, trainable_only: bool = True) -> dict[str, int]:
    """``{"total", "quantum", "classical"}`` parameter counts of ``module``.

    Parameters owned by a quantum module (see :func:`is_quantum_module`), at any depth, count as
    quantum; all others as classical. Shared parameters count once. With ``trainable_only``
    (default) parameters with ``requires_grad=False`` are left out.
    """
    quantum_ids: set[int] = set()
    for m in module.modules():
        if is_quantum_module(m):
            quantum_ids.update(id(p) for p in m.parameters())
    total = quantum = 0
    for p in module.parameters():  # parameters() already deduplicates shared tensors
        if trainable_only and not p.requires_grad:
            continue
        total += p.numel()
        if id(p) in quantum_ids:
            quantum += p.numel()
    return {"total": total, "quantum": quantum, "classical": total - quantum}

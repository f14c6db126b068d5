"""What every quantum layer shares: a quantum-parameter count, a twin, input checks."""

from __future__ import annotations

import torch
from torch import nn

from qclf.layers.params import count_parameters


class QuantumLayer(nn.Module):
    """Base class of qclf's quantum layers (their circuits live in TorchLayer submodules)."""

    @property
    def n_quantum_params(self) -> int:
        """Trainable circuit weights."""
        return count_parameters(self)["quantum"]

    @property
    def n_params(self) -> int:
        """All trainable parameters, quantum and classical."""
        return count_parameters(self)["total"]

    def classical_twin(self) -> nn.Module:
        """A classical module with the same input/output shapes and ≈ the same parameters."""
        raise NotImplementedError


def check_last_dim(x: torch.Tensor, n: int, layer: str) -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``(..., n)``."""
    if x.ndim < 1 or x.shape[-1] != n:
        raise ValueError(f"{layer} expects input of shape (..., {n}), got {tuple(x.shape)}")

"""Quantum execution for torch models (placeholder until the compiled engine lands)."""

from pennylane.qnn import TorchLayer

__all__ = ["TorchLayer"]

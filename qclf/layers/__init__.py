"""Quantum layers as torch modules, each with a classical twin of matched parameter count."""

from qclf.layers.base import QuantumLayer
from qclf.layers.parallel import ParallelCircuits
from qclf.layers.params import count_parameters, is_quantum_module

__all__ = ["ParallelCircuits", "QuantumLayer", "count_parameters", "is_quantum_module"]

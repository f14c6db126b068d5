"""Quantum layers as torch modules, each with a classical twin of matched parameter count."""

from qclf.layers.base import QuantumLayer
from qclf.layers.dressed import DressedCircuit
from qclf.layers.parallel import ParallelCircuits
from qclf.layers.params import count_parameters, is_quantum_module
from qclf.layers.qcnn import QCNN
from qclf.layers.quanv import Quanv2d

__all__ = [
    "QCNN",
    "DressedCircuit",
    "ParallelCircuits",
    "Quanv2d",
    "QuantumLayer",
    "count_parameters",
    "is_quantum_module",
]

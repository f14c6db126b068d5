"""Quantum layers as torch modules, each with a classical twin of matched parameter count."""

from qclf.layers.base import QuantumLayer
from qclf.layers.dressed import DressedCircuit
from qclf.layers.observable_conv import ObservableConv2d
from qclf.layers.parallel import ParallelCircuits
from qclf.layers.params import count_parameters, is_quantum_module
from qclf.layers.qcnn import QCNN
from qclf.layers.quanv import Quanv2d
from qclf.layers.reupload_linear import ReuploadLinear
from qclf.layers.wire_cut import GainTwin, WireCut

__all__ = [
    "QCNN",
    "DressedCircuit",
    "GainTwin",
    "ObservableConv2d",
    "ParallelCircuits",
    "Quanv2d",
    "QuantumLayer",
    "ReuploadLinear",
    "WireCut",
    "count_parameters",
    "is_quantum_module",
]

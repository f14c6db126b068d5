"""qclf's circuit catalogue: named encodings and ansätze, one family per module.

>>> from qclf.circuits import build_qnode, list_circuits
>>> qnode, weight_shapes = build_qnode(4, "angle", "strongly_entangling", depth=2)

Every circuit is a PennyLane circuit function registered under a name with its weight shape;
configs name circuits, ``build_qnode`` turns names into a QNode, ``to_qasm`` exports one sample
to OpenQASM 2, and ``describe`` feeds ``qclf list circuits``.
"""

from . import (  # noqa: F401 - importing a family registers its circuits
    amplitude,
    angle,
    basic_entangler,
    control,
    dense_angle,
    dressed,
    eurosat,
    iqp,
    qcnn,
    quanv,
    strongly_entangling,
    transfer,
)
from .build import build_qnode, n_inputs, n_outputs, to_qasm
from .qcnn import qcnn_readout
from .registry import (
    CIRCUITS,
    Circuit,
    describe,
    get_circuit,
    list_circuits,
    register_circuit,
)

__all__ = [
    "CIRCUITS",
    "Circuit",
    "build_qnode",
    "describe",
    "get_circuit",
    "list_circuits",
    "n_inputs",
    "n_outputs",
    "qcnn_readout",
    "register_circuit",
    "to_qasm",
]

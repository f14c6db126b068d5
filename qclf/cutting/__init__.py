"""Circuit cutting for any circuit: run a PennyLane QNode as fragments that fit fewer qubits.

* :func:`split` -- ``split(qnode, max_qubits, cuts=None)`` returns a callable with the QNode's
  signature and outputs (expvals of Pauli words or sums, several of them, ``probs``), batched
  and differentiable in torch, with ``.plan`` (:class:`CutPlan`: cuts, fragments, widths,
  fragment circuits per sample, sampling overhead).
* :class:`CutLayer` -- the ``TorchLayer``-style module.
* :func:`find_cuts` -- the search (fewest cuts, then fewest fragments); :class:`CutError` for a
  circuit that cannot be split as asked (it names the narrowest width reachable).
* :mod:`qclf.cutting.identity` -- the wire-cut identity, the one implementation in qclf.
"""

from qclf.cutting.graph import CutError, Fragment, find_cuts, fragments
from qclf.cutting.split import CutLayer, CutPlan, SplitCircuit, split

__all__ = ["CutError", "CutLayer", "CutPlan", "Fragment", "SplitCircuit", "find_cuts",
           "fragments", "split"]

"""qclf's batched torch state-vector engine, in parts.

* :mod:`.plan` -- compile a recorded circuit once into a plan of gates with parameter slots;
  :class:`PlanCache` (bounded, clearable, owned by a layer) replays it.
* :mod:`.bind` -- bind one call's tensors: flat parameter vectors, gate matrices by kind.
* :mod:`.gates` -- the gate table (closed-form matrix builders, real or complex).
* :mod:`.kernels` -- state kernels on wire-ordered states; :mod:`.state` -- real-pair views;
  :mod:`.schedule` -- the kernel steps of a plan; :mod:`.execute` -- product-state folding and
  running the steps; :mod:`.measure` -- measurements;
  :mod:`.shots` -- finite-shot estimates; :mod:`.guard` -- the memory guard;
  :mod:`.thresholds` -- every tuning threshold.
* :mod:`.dense` / :mod:`.blocks` -- the small-register program (whole-register moments up to 6
  qubits, 4-wire blocks up to 12) with a hand-written adjoint; :mod:`.compiled` -- the same
  program through ``torch.compile`` (``TorchLayer(compile=True)``).
* :func:`simulate` -- run a recorded circuit batched and differentiably (the one public call).
"""

from .errors import MemoryLimitExceeded, StrictModeError, UnsupportedCircuit
from .expand import expand_operations
from .plan import CircuitPlan, PlanCache
from .run import run_plan, simulate

__all__ = [
    "CircuitPlan",
    "MemoryLimitExceeded",
    "PlanCache",
    "StrictModeError",
    "UnsupportedCircuit",
    "expand_operations",
    "run_plan",
    "simulate",
]

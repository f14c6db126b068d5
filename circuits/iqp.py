r"""IQP-style encoding (Havlíček et al., Nature 567, 209 (2019)).

.. math:: U(x) = \Big[\prod_{i<j} e^{-\tfrac{i}{2} x_i x_j Z_i Z_j}
   \prod_i e^{-\tfrac{i}{2} x_i Z_i}\, H^{\otimes n}\Big]^{r}

Diagonal (commuting) layers between Hadamards; the products :math:`x_i x_j` give second-order
feature interactions that are hard to simulate classically at scale. ``repeats`` is r. The
two-qubit terms act on all pairs (``pattern="all"``) or on neighbours only (``"chain"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pennylane as qml

from ._common import n_inputs
from .registry import register_circuit


@register_circuit(
    "iqp",
    "encoding",
    n_features=lambda n: n,
    source="Havlíček et al. 2019",
)
def iqp(
    inputs: Any,
    wires: Sequence[int],
    repeats: int = 1,
    pattern: str = "all",
    scale: float = 1.0,
) -> None:
    """[H, RZ(x_i), ZZ(x_i·x_j) on pairs] x repeats."""
    n = n_inputs(inputs, len(wires), "iqp encoding")
    if pattern == "all":
        pairs = list(itertools.combinations(range(n), 2))
    elif pattern == "chain":
        pairs = [(i, i + 1) for i in range(n - 1)]
    else:
        raise ValueError(f"iqp pattern must be 'all' or 'chain', got {pattern!r}")
    x = [scale * inputs[..., i] for i in range(n)]
    for _ in range(repeats):
        for w in wires:
            qml.Hadamard(wires=w)
        for i in range(n):
            qml.RZ(x[i], wires=wires[i])
        for i, j in pairs:
            qml.MultiRZ(x[i] * x[j], wires=[wires[i], wires[j]])

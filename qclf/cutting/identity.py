r"""The wire-cut identity: the one place in qclf where a cut wire is put back together.

Cutting a wire between an upstream and a downstream fragment uses

.. math:: \rho = \tfrac12 \sum_{P\in\{I,X,Y,Z\}} \mathrm{Tr}(P\rho)\,P

The upstream fragment measures :math:`\langle O_\text{up} \otimes P\rangle` for the four Paulis on
the cut wire (three measurement bases: ``I`` and ``Z`` share one). The downstream fragment
cannot be prepared in a Pauli "state", so it runs from the four eigenstates
:data:`PREPARATIONS` ``= |0>, |1>, |+>, |+i>`` and the Pauli inputs are linear combinations of
those runs (:data:`PAULI_FROM_PREPARATIONS`):

.. math:: I = |0\rangle\langle0| + |1\rangle\langle1|,\quad Z = |0\rangle\langle0| -
   |1\rangle\langle1|,\quad X = 2|{+}\rangle\langle{+}| - I,\quad Y = 2|{+i}\rangle\langle{+i}| - I

With :math:`k` cuts the value of a product observable is
:math:`2^{-k}\sum_{P_1..P_k} \prod_f T_f[P_{\text{in}(f)}, P_{\text{out}(f)}]`, a tensor-network
contraction over the cut indices (:func:`contract`). Each fragment circuit runs in
``4^(inputs) x 3^(outputs)`` settings (preparations x bases); the estimator's 1-norm is
:math:`4^k`, so with shots its variance grows by up to :math:`16^k` (:func:`sampling_overhead`).
"""

from __future__ import annotations

import math
import string

import torch

PAULIS = ("I", "X", "Y", "Z")
#: downstream preparations, as RY(theta) then RZ(phi) on |0> (|+i> = RZ(pi/2)|+> up to phase)
PREPARATIONS = ("0", "1", "+", "+i")
PREPARATION_ANGLES = {"0": (0.0, 0.0), "1": (math.pi, 0.0), "+": (math.pi / 2, 0.0),
                      "+i": (math.pi / 2, math.pi / 2)}
#: rows: Pauli input (I, X, Y, Z); columns: preparation runs (0, 1, +, +i)
PAULI_FROM_PREPARATIONS = torch.tensor([
    [1.0, 1.0, 0.0, 0.0],    # I
    [-1.0, -1.0, 2.0, 0.0],  # X
    [-1.0, -1.0, 0.0, 2.0],  # Y
    [1.0, -1.0, 0.0, 0.0],   # Z
])
#: measurement bases an upstream fragment needs per output cut (I and Z share the Z basis)
BASES = ("X", "Y", "Z")


def sampling_overhead(n_cuts: int) -> int:
    """Variance factor of the shot-based estimator versus the uncut circuit: (4^k)^2."""
    return 16**n_cuts


def to_pauli_inputs(t: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """Map preparation axes (size 4, order :data:`PREPARATIONS`) of ``t`` to Pauli inputs."""
    m = PAULI_FROM_PREPARATIONS.to(dtype=t.dtype, device=t.device)
    for d in dims:
        t = torch.movedim(torch.tensordot(t, m, dims=([d], [1])), -1, d)
    return t


def contract(tensors: list[torch.Tensor], cut_axes: list[list[int]], n_cuts: int) -> torch.Tensor:
    """:math:`2^{-k}\\sum_P \\prod_f T_f`: fragment tensors ``(B, W, 4, ..., 4)`` whose extra axes
    are the cuts ``cut_axes[f]`` (each cut appears in exactly two fragments), summed over the
    cuts; returns ``(B, W)``."""
    letters = iter(string.ascii_letters[2:])
    cut_letter = {c: next(letters) for c in range(n_cuts)}
    specs = ["ab" + "".join(cut_letter[c] for c in axes) for axes in cut_axes]
    return torch.einsum(",".join(specs) + "->ab", *tensors) * 0.5**n_cuts

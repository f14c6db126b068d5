"""Finite shots on the engine: estimates sampled from the batched exact probabilities.

Each measurement is estimated from ``shots`` samples (``torch.multinomial`` with torch's
generator, so ``torch.manual_seed`` makes a run reproducible) of the exact probabilities in its
own measurement basis: ``probs`` as counts / shots, Pauli-word ``expval`` as the mean of the
sampled +-1 parities, other observables' ``expval`` from their sampled eigenvalues (``var``
is evaluated the same way but falls back to PennyLane for its gradient rule, see
:func:`check_shot_plan`). Gradients follow the two-term parameter-shift rule on every flat
parameter slot (:class:`ShotEstimates`), each shifted circuit estimated with its own shots, as
PennyLane's ``diff_method="parameter-shift"`` does with finite shots.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import UnsupportedCircuit
from .gates import parity_signs
from .kernels import apply_contiguous, apply_dense
from .measure import _H, _HSDG, EigenExpval, Expval, Probs, VarWord
from .state import as_pair, marginal, probs_from_state

#: gates whose every parameter obeys the two-term shift rule f' = [f(+pi/2) - f(-pi/2)] / 2
TWO_TERM_GATES = frozenset({
    "RX", "RY", "RZ", "PhaseShift", "Rot", "U3", "MultiRZ", "IsingXX", "IsingYY", "IsingZZ",
})  # fmt: skip


def check_shot_plan(plan) -> None:
    """Raise UnsupportedCircuit unless shots and their gradients are supported for ``plan``."""
    if plan.has_dynamic:
        raise UnsupportedCircuit("finite shots with value-dependent decompositions")
    seen: set = set()
    for g in plan.items:
        for kind, v in g.srcs:
            if kind not in ("u", "b") or g.name not in TWO_TERM_GATES or v.dim() != 0:
                raise UnsupportedCircuit(
                    f"finite shots: no parameter-shift rule for {g.name}'s parameters here"
                )
            key = (kind, int(v))
            if key in seen:
                raise UnsupportedCircuit("finite shots: a parameter feeds several gates")
            seen.add(key)
    for item in plan.measurements.items:
        if isinstance(item, Expval) and len(item.sentence.terms) != 1:
            raise UnsupportedCircuit("finite shots: expval of a sum of Pauli words")
        if isinstance(item, VarWord) or getattr(item, "var", False):
            # the shift rule holds for expectations, not for variances (nonlinear in them)
            raise UnsupportedCircuit("finite shots: var (no parameter-shift gradient here)")
        if not isinstance(item, Expval | Probs | EigenExpval):
            raise UnsupportedCircuit(f"finite shots: {type(item).__name__}")


def _sample(p: torch.Tensor, shots: int, generator) -> torch.Tensor:
    """(B, K) probabilities -> (B, shots) sampled outcomes."""
    p = p.clamp_min(0)
    return torch.multinomial(p, shots, replacement=True, generator=generator)


def _word_state(psi, frame, n):
    st = psi
    for p, b in sorted(frame.bases.items()):
        if b != "Z":
            m = torch.as_tensor(_H if b == "X" else _HSDG, device=psi.device)
            st = apply_contiguous(st, m.to(torch.complex128 if psi.real.dtype == torch.float64
                                            else torch.complex64), p, 1, n)  # fmt: skip
    return st


def sampled_results(psi, mplan, batched: bool, batch: int, shots: int, generator, rdtype):
    """Finite-shot estimates of every measurement of ``mplan`` for the canonical state ``psi``."""
    n = mplan.n
    out = []
    for item in mplan.items:
        if isinstance(item, Probs):
            idx = _sample(probs_from_state(as_pair(psi)), shots, generator)
            loc = 0
            for p in item.positions:
                loc = loc * 2 + ((idx >> (n - 1 - p)) & 1)
            k = 1 << len(item.positions)
            r = torch.zeros(idx.shape[0], k, dtype=rdtype, device=psi.device)
            r.scatter_add_(1, loc, torch.ones_like(loc, dtype=rdtype))
            r = r / shots
        elif isinstance(item, EigenExpval):
            f = mplan.frames[item.fi]
            st = psi
            for g in f.diag:
                st = apply_dense(st, g.const, g.pos, n)
            p = marginal(probs_from_state(as_pair(st)), f.positions, n)
            eigvals = torch.as_tensor(item.eig, dtype=rdtype, device=psi.device)
            eig = eigvals[_sample(p, shots, generator)]
            r = eig.var(1, unbiased=False) if item.var else eig.mean(1)
        else:
            fi, ti, coeff = (item.sentence.terms[0] if isinstance(item, Expval)
                             else (item.fi, item.ti, item.coeff))  # fmt: skip
            c = float(np.real(coeff))
            if fi is None:
                r = torch.full((psi.shape[0],), c if isinstance(item, Expval) else 0.0,
                               dtype=rdtype, device=psi.device)  # fmt: skip
            else:
                f = mplan.frames[fi]
                idx = _sample(probs_from_state(as_pair(_word_state(psi, f, n))), shots, generator)
                signs = torch.as_tensor(parity_signs(f.sign_terms[ti], n), dtype=rdtype,
                                        device=psi.device)[idx]  # fmt: skip
                r = c * signs.mean(1) if isinstance(item, Expval) else (c * c) * signs.var(
                    1, unbiased=False
                )
        r = r.to(rdtype)
        if r.shape[0] == 1 and batch > 1:
            r = r.expand(batch, *r.shape[1:])
        out.append(r if batched else r[0])
    return out


class ShotEstimates(torch.autograd.Function):
    """Finite-shot results of ``runner(flat_u, flat_b)`` with parameter-shift gradients."""

    @staticmethod
    def forward(ctx, runner, flat_u, flat_b):
        ctx.runner = runner
        ctx.save_for_backward(flat_u, flat_b)
        with torch.no_grad():
            return tuple(runner(flat_u, flat_b))

    @staticmethod
    def backward(ctx, *grads):
        if torch.is_grad_enabled():  # create_graph: the shifts below are not recorded
            raise RuntimeError("qclf.TorchLayer: second derivatives (create_graph=True) of "
                               "finite-shot estimates are not supported; use an analytic "
                               "device (shots=None) for gradient penalties or Hessians")
        flat_u, flat_b = ctx.saved_tensors
        runner = ctx.runner
        half = math.pi / 2

        def contraction(fp, fm, per_row: bool):
            total = 0
            for g, a, b in zip(grads, fp, fm, strict=True):
                d = g * (a - b) / 2
                if per_row and d.dim() > 1:
                    d = d.reshape(d.shape[0], -1).sum(1)
                total = total + (d if per_row else d.sum())
            return total

        gu = gb = None
        with torch.no_grad():
            if flat_u is not None and ctx.needs_input_grad[1]:
                gu = torch.zeros_like(flat_u)
                for j in range(flat_u.numel()):
                    shift = torch.zeros_like(flat_u)
                    shift[j] = half
                    gu[j] = contraction(runner(flat_u + shift, flat_b),
                                        runner(flat_u - shift, flat_b), False)  # fmt: skip
            if flat_b is not None and ctx.needs_input_grad[2]:
                gb = torch.zeros_like(flat_b)
                for j in range(flat_b.shape[1]):
                    shift = torch.zeros_like(flat_b)
                    shift[:, j] = half
                    gb[:, j] = contraction(runner(flat_u, flat_b + shift),
                                           runner(flat_u, flat_b - shift), True)  # fmt: skip
        return None, gu, gb

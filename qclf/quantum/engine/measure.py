"""Measurements: one small class per kind, planned once per circuit, evaluated per call.

Pauli words and sums of them are measured by rotating to the Z basis (measurements sharing a
compatible basis share one rotation, a "frame"; when a single frame covers every measurement
its rotation is appended to the circuit and fuses with the last weight-only unitary) and one
GEMM of ``|amplitude|^2`` with +-1 parity vectors. Other observables use their diagonalizing
gates and eigenvalues; ``probs`` marginalises ``|amplitude|^2``.
"""

from __future__ import annotations

import numpy as np
import torch
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP

from .errors import UnsupportedCircuit
from .expand import expand_operations
from .gates import parity_signs
from .kernels import apply_contiguous, apply_dense
from .plan import CircuitPlan, Gate
from .state import as_pair, marginal, probs_from_state

_H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
_HSDG = np.array([[1, -1j], [1, 1j]]) / np.sqrt(2)


class _SquaresTimes(torch.autograd.Function):
    """``(a * a) @ s`` for real amplitudes ``a`` (b, M) and constant signs ``s`` (M, T) in two
    passes over ``a`` each way (autograd's square would add a copy and a scaling pass)."""

    @staticmethod
    def forward(ctx, a, s):
        ctx.save_for_backward(a, s)
        return (a * a) @ s

    @staticmethod
    def backward(ctx, g):
        a, s = ctx.saved_tensors
        return a * (g @ (2 * s).transpose(0, 1)), None


class Frame:
    """A measurement basis (position -> 'X'|'Y'|'Z') and the Z-words measured in it, or the
    diagonalizing gates of one observable (``diag``)."""

    def __init__(self, diag: list[Gate] | None = None, positions=None):
        self.bases: dict[int, str] = {}
        self.diag = diag
        self.positions = positions
        self.sign_terms: list[tuple[int, ...]] = []

    def compatible(self, bases) -> bool:
        return self.diag is None and all(self.bases.get(w, b) == b for w, b in bases.items())

    def add(self, bases) -> int:
        self.bases.update(bases)
        key = tuple(sorted(bases))
        if key not in self.sign_terms:
            self.sign_terms.append(key)
        return self.sign_terms.index(key)

    def signs(self, n: int) -> np.ndarray:
        """(2**n, T) +-1 vectors of the frame's Z-words: ``<Z_t> = |psi|^2 . signs[:, t]``."""
        return np.stack([parity_signs(t, n) for t in self.sign_terms], 1)


def _real(c) -> float | torch.Tensor:
    if isinstance(c, complex | np.complexfloating):
        return c.real
    if isinstance(c, torch.Tensor) and c.is_complex():
        return c.real
    return c


class _Sentence:
    """sum_t coeff_t <word_t>: terms are (frame, term, coeff) or (None, None, coeff) for I."""

    def __init__(self, terms):
        self.terms = terms

    def value(self, values, like) -> torch.Tensor:
        total = None
        for fi, ti, coeff in self.terms:
            val = torch.ones_like(like) if fi is None else values[fi][:, ti]
            coeff = _real(coeff)
            if isinstance(coeff, torch.Tensor):
                coeff = coeff.to(val.device)
            term = val if (not isinstance(coeff, torch.Tensor) and coeff == 1.0) else val * coeff
            total = term if total is None else total + term
        return torch.zeros_like(like) if total is None else total


class Expval:
    def __init__(self, sentence: _Sentence):
        self.sentence = sentence

    def evaluate(self, values, probs, like):
        return self.sentence.value(values, like)


class VarWord:
    """Variance of one (scaled) Pauli word: c^2 (1 - <P>^2)."""

    def __init__(self, sentence: _Sentence):
        ((self.fi, self.ti, self.coeff),) = sentence.terms

    def evaluate(self, values, probs, like):
        if self.fi is None:
            return torch.zeros_like(like)
        e = values[self.fi][:, self.ti]
        c = _real(self.coeff)
        return (1 - e * e) * (c * c)


class VarSentence:
    def __init__(self, sentence: _Sentence, squared: _Sentence):
        self.sentence, self.squared = sentence, squared

    def evaluate(self, values, probs, like):
        e = self.sentence.value(values, like)
        return self.squared.value(values, like) - e * e


class Probs:
    def __init__(self, positions, n):
        self.positions, self.n = positions, n

    def evaluate(self, values, probs, like):
        return marginal(probs(), self.positions, self.n)


class FrameProbs:
    """``probs(op=O)``: probabilities of the basis states after O's diagonalizing gates."""

    def __init__(self, frame_index: int):
        self.fi = frame_index

    def evaluate(self, values, probs, like):
        return values[self.fi]


class EigenExpval:
    """<O> = p . eigvals in the observable's eigenbasis (``var``: p . eig^2 - <O>^2)."""

    def __init__(self, frame_index: int, eig: np.ndarray, var: bool):
        self.fi, self.eig, self.var = frame_index, eig, var

    def evaluate(self, values, probs, like):
        p = values[self.fi]
        eig = torch.as_tensor(self.eig, dtype=p.dtype, device=p.device)
        e = p @ eig
        return p @ (eig * eig) - e * e if self.var else e


class MeasurementPlan:
    """The measurements of a circuit, planned once (frames, sign vectors, classes)."""

    def __init__(self, mps, plan: CircuitPlan):
        self.n = plan.n
        self.frames: list[Frame] = []
        self.items = [self._plan_one(mp, plan) for mp in mps]
        self.rotation = self._single_frame_rotation(mps, plan)
        self.stack_terms = self._stack_terms()

    def _stack_terms(self) -> list[int] | None:
        """Column of each result in one frame's (B, T) values when every measurement is the
        expectation of one Pauli word with coefficient 1 in that frame (the usual
        ``[expval(Z_i) ...]``): the results are then one (B, T) tensor."""
        cols, frames = [], set()
        for item in self.items:
            if type(item) is not Expval or len(item.sentence.terms) != 1:
                return None
            fi, ti, coeff = item.sentence.terms[0]
            if fi is None or isinstance(coeff, torch.Tensor) or _real(coeff) != 1.0:
                return None
            frames.add(fi)
            cols.append(ti)
        if len(frames) != 1 or self.frames[next(iter(frames))].diag is not None:
            return None
        return cols

    def _positions(self, wires, plan):
        try:
            return [plan.wire_pos[w] for w in wires]
        except KeyError as exc:
            raise UnsupportedCircuit(f"measurement on unknown wire {exc}") from exc

    def _sentence(self, ps, plan) -> _Sentence:
        terms = []
        for word, coeff in ps.items():
            if len(word) == 0:
                terms.append((None, None, coeff))
                continue
            bases = dict(zip(self._positions(word.keys(), plan), word.values(), strict=True))
            bases = {p: b for p, b in bases.items() if b != "I"}
            for fi, f in enumerate(self.frames):
                if f.compatible(bases):
                    terms.append((fi, f.add(bases), coeff))
                    break
            else:
                self.frames.append(Frame())
                terms.append((len(self.frames) - 1, self.frames[-1].add(bases), coeff))
        return _Sentence(terms)

    def _plan_one(self, mp, plan):
        if type(mp) not in (ExpectationMP, VarianceMP, ProbabilityMP):
            raise UnsupportedCircuit(f"measurement {type(mp).__name__} is not supported")
        if getattr(mp, "mv", None) is not None:
            raise UnsupportedCircuit("measurement of a mid-circuit measurement value")
        if isinstance(mp, ProbabilityMP):
            if mp.obs is not None:  # probabilities in the observable's eigenbasis
                return FrameProbs(self._diag_frame(mp.obs, plan))
            wires = mp.wires if len(mp.wires) else plan.wire_order
            return Probs(self._positions(wires, plan), self.n)
        obs = mp.obs
        if obs is None:
            raise UnsupportedCircuit("expval/var without observable")
        if getattr(obs, "batch_size", None) is not None:
            raise UnsupportedCircuit("broadcast observable")
        ps = obs.pauli_rep
        if ps is not None:
            if isinstance(mp, VarianceMP) and len(ps) > 1:
                return VarSentence(self._sentence(ps, plan), self._sentence(ps @ ps, plan))
            if isinstance(mp, VarianceMP):
                return VarWord(self._sentence(ps, plan))
            return Expval(self._sentence(ps, plan))
        try:
            eig = np.real(np.asarray(obs.eigvals()))
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedCircuit(f"observable {obs.name} has no eigenvalues") from exc
        return EigenExpval(self._diag_frame(obs, plan), eig, isinstance(mp, VarianceMP))

    def _diag_frame(self, obs, plan) -> int:
        """A frame of the observable's (constant) diagonalizing gates; its index."""
        try:
            diag = expand_operations(obs.diagonalizing_gates())
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedCircuit(f"observable {obs.name} cannot be diagonalized") from exc
        gates = []
        for op in diag:
            g = Gate(op.name, plan.positions(op.wires), False)
            g.const = plan.const_matrix(op, g)
            gates.append(g)
        self.frames.append(Frame(gates, self._positions(obs.wires, plan)))
        return len(self.frames) - 1

    def _single_frame_rotation(self, mps, plan) -> list[Gate] | None:
        """Basis-change gates if every measurement is a Pauli expval/var sharing one basis."""
        bases: dict = {}
        for mp in mps:
            if type(mp) not in (ExpectationMP, VarianceMP) or mp.obs is None:
                return None
            ps = mp.obs.pauli_rep
            if ps is None or (isinstance(mp, VarianceMP) and len(ps) > 1):
                return None
            for word in ps:
                for w, b in word.items():
                    if w not in plan.wire_pos or bases.setdefault(w, b) != b:
                        return None
        gates = []
        for w, b in bases.items():
            if b in ("X", "Y"):
                g = Gate("Hadamard" if b == "X" else "HSdg", (plan.wire_pos[w],), False)
                g.const = _const(_H if b == "X" else _HSDG, plan)
                gates.append(g)
        return gates

    # ----------------------------------------------------------------------- evaluate
    def frame_values(self, psi, bound, prerotated: bool, frames=None) -> list[torch.Tensor]:
        """Per frame: (b, T) Pauli-word expectations, or (b, 2**k) probabilities.

        ``psi``: the canonical state (b, 2**n), real or complex."""
        n = self.n
        out = []
        for f in self.frames if frames is None else frames:
            if f.diag is not None:
                st = psi
                for g in f.diag:
                    st = apply_dense(st, g.const, g.pos, n)
                out.append(marginal(probs_from_state(as_pair(st)), f.positions, n))
                continue
            rot = [] if prerotated else [(p, b) for p, b in sorted(f.bases.items()) if b != "Z"]
            st = psi
            for p, b in rot:
                m = bound.const(("rot", b), lambda b=b: _H if b == "X" else _HSDG)
                st = apply_contiguous(st, m, p, 1, n)
            st_f = as_pair(st)
            c = st_f.shape[-1]
            flat = st_f.reshape(st_f.shape[0], -1)
            s = bound.const(
                ("signs", n, c, tuple(f.sign_terms)),
                lambda f=f, c=c: np.repeat(f.signs(n), c, axis=0),
                flat.dtype,
            )
            out.append(_SquaresTimes.apply(flat, s))  # (re, im) summed inside the GEMM
        return out

    def evaluate_stacked(self, psi, bound, batched: bool, prerotated: bool, batch: int,
                         values: list[torch.Tensor] | None = None):
        """All results as one (B, T) tensor ((T,) unbatched); requires :attr:`stack_terms`.
        ``values``: the frames' values when they were computed without a state (``psi``
        None, :mod:`.product_unitary`)."""
        fi = self.items[0].sentence.terms[0][0]
        if values is None:
            values = self.frame_values(psi, bound, prerotated, [self.frames[fi]])
        else:
            values = [values[fi]]
        (values,) = values
        cols = self.stack_terms
        if cols != list(range(values.shape[1])):
            idx = bound.const(("stack", tuple(cols)), lambda: np.asarray(cols), torch.long)
            values = values.index_select(1, idx)
        values = values.to(bound.rdtype)
        if values.shape[0] == 1 and batch > 1:
            values = values.expand(batch, -1)
        return values if batched else values[0]

    def evaluate(self, psi, bound, batched: bool, prerotated: bool, batch: int,
                 values: list[torch.Tensor] | None = None):
        """Every result, shaped as PennyLane returns it; ``values`` as in
        :meth:`evaluate_stacked` (then no item may need the state's probabilities)."""
        if values is None:
            values = self.frame_values(psi, bound, prerotated)
        cache: dict = {}

        def probs():
            if "p" not in cache:
                cache["p"] = probs_from_state(as_pair(psi))
            return cache["p"]

        ref = psi if psi is not None else values[0]
        like = torch.zeros(ref.shape[0], dtype=bound.rdtype, device=ref.device)
        results = []
        for item in self.items:
            r = item.evaluate(values, probs, like).to(bound.rdtype)
            if r.shape[0] == 1 and batch > 1:
                r = r.expand(batch, *r.shape[1:])
            results.append(r if batched else r[0])
        return results


def _const(m, plan: CircuitPlan) -> torch.Tensor:
    cdtype = torch.complex128 if plan.rdtype == torch.float64 else torch.complex64
    t = torch.as_tensor(np.asarray(m), device=plan.device)
    return t.to(cdtype) if t.is_complex() else t.to(plan.rdtype)

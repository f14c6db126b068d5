"""Exact reconstruction on the torch engine: every fragment setting for every sample in one
batched call per fragment, recombined in torch (so gradients reach inputs and weights).

A fragment with ``a`` prepared and ``b`` measured cut ends runs its ``4^a`` preparations as extra
batch elements (parametrised RY/RZ preparations, the sample batch repeated), and measures every
Pauli word it needs times every Pauli on its ``b`` outgoing cut wires as expectation values of
the same state. :func:`~qclf.cutting.identity.contract` then sums over the cut indices.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence

import pennylane as qml
import torch

from qclf.cutting.graph import Fragment, segment_of
from qclf.cutting.identity import (
    PAULIS,
    PREPARATION_ANGLES,
    PREPARATIONS,
    contract,
    to_pauli_inputs,
)
from qclf.cutting.observables import Word, pauli_op
from qclf.quantum import simulate


def batch_size(ops: Sequence) -> int | None:
    sizes = {op.batch_size for op in ops if getattr(op, "batch_size", None) is not None}
    if len(sizes) > 1:
        raise ValueError(f"operations carry different batch sizes {sorted(sizes)}")
    return sizes.pop() if sizes else None


def _tile(op, reps: int):
    """The op with its batched parameters repeated ``reps`` times per sample (b*reps + v)."""
    if reps == 1 or getattr(op, "batch_size", None) is None:
        return op
    data = [p.repeat_interleave(reps, dim=0) if isinstance(p, torch.Tensor) and p.ndim else p
            for p in op.data]
    return qml.ops.functions.bind_new_parameters(op, data)


def fragment_parts(frag: Fragment, words: Sequence[Word], last_segment: dict[Hashable, int]
                   ) -> tuple[list[tuple[tuple[int, str], ...]], list[int]]:
    """The distinct local factors of ``words`` on ``frag`` and, per word, its factor's index."""
    local = {seg: i for i, seg in enumerate(frag.segments)}
    parts: dict[tuple[tuple[int, str], ...], int] = {}
    index = []
    for word in words:
        part = tuple(sorted((local[(w, last_segment[w])], p) for w, p in word
                            if (w, last_segment[w]) in local))
        index.append(parts.setdefault(part, len(parts)))
    return list(parts), index


def engine_execute(ops, measurements, wire_order, dtype, device, cache=None):
    """Run one fragment tape on the torch engine: exact values, no standard errors. With a
    :class:`~qclf.quantum.PlanCache` each fragment's structure is compiled once and replayed."""
    return simulate(ops, measurements, wire_order, dtype=dtype, device=device,
                    cache=cache), None


def backend_execute(backend):
    """Run fragment tapes on a :mod:`qclf.backends` backend (Aer with shots, a fake or real IBM
    device): one PUB per fragment carrying every (sample, preparation) binding; values and
    standard errors come back per measurement."""
    from qclf.backends import batch_from_tape

    def execute(ops, measurements, wire_order, dtype, device):
        tape = qml.tape.QuantumScript(list(ops), list(measurements))
        est = backend.estimate([batch_from_tape(tape, list(wire_order))])[0]
        vals = torch.as_tensor(est.values, dtype=dtype, device=device)
        errs = torch.as_tensor(est.stderr, dtype=dtype, device=device)
        return ([vals[:, m] for m in range(vals.shape[1])],
                [errs[:, m] for m in range(errs.shape[1])])

    return execute


def run_fragment(frag: Fragment, ops: Sequence, cuts_by_wire: dict[Hashable, list[int]],
                 parts: Sequence[tuple[tuple[int, str], ...]], batch: int | None,
                 dtype: torch.dtype, device: torch.device, execute=None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(B, parts, 4,..,4)`` raw fragment values: preparation axes (``in_cuts`` order, order
    :data:`PREPARATIONS`) then Pauli-output axes; and their standard errors (or ``None``)."""
    n_in, n_out = len(frag.in_cuts), len(frag.out_cuts)
    variants = 4**n_in
    b = batch or 1
    local = {seg: i for i, seg in enumerate(frag.segments)}
    frag_ops = []
    if n_in:
        settings = list(itertools.product(range(4), repeat=n_in))  # v -> prep per input cut
        for j, wire in enumerate(frag.in_cuts.values()):
            theta = torch.tensor([PREPARATION_ANGLES[PREPARATIONS[s[j]]][0] for s in settings],
                                 dtype=dtype, device=device).repeat(b)
            phi = torch.tensor([PREPARATION_ANGLES[PREPARATIONS[s[j]]][1] for s in settings],
                               dtype=dtype, device=device).repeat(b)
            frag_ops += [qml.RY(theta, wires=wire), qml.RZ(phi, wires=wire)]
    for i in frag.ops:
        op = ops[i]
        mapping = {w: local[(w, segment_of(cuts_by_wire.get(w, []), i))] for w in op.wires}
        frag_ops.append(_tile(op.map_wires(mapping), variants))
    outs = list(itertools.product(PAULIS, repeat=n_out))
    out_wires = list(frag.out_cuts.values())
    measurements, slots = [], []
    for part in parts:
        for paulis in outs:
            word = list(part) + [(w, p) for w, p in zip(out_wires, paulis, strict=True)
                                 if p != "I"]
            if word:
                slots.append(len(measurements))
                measurements.append(qml.expval(pauli_op(word)))
            else:
                slots.append(None)  # <I> = 1
    execute = execute or engine_execute
    values, errors = execute(frag_ops, measurements, list(range(frag.width)), dtype,
                             device) if measurements else ([], None)
    total = b * variants

    def table(cols_of):
        cols = [torch.ones(total, dtype=dtype, device=device) if s is None
                else cols_of[s].reshape(-1).expand(total) for s in slots]
        t = torch.stack(cols, dim=-1).reshape(b, variants, len(parts), 4**n_out)
        return t.permute(0, 2, 1, 3).reshape(b, len(parts), *([4] * (n_in + n_out)))

    t = table(values)
    if errors is None:
        return t, None
    e = [torch.zeros_like(v) for v in errors]
    for s in slots:  # the identity columns are exact
        if s is not None:
            e[s] = errors[s]
    return t, table(e) if measurements else torch.zeros_like(t)


def word_values(frags: Sequence[Fragment], ops: Sequence, cuts: Sequence[tuple[Hashable, int]],
                words: Sequence[Word], wires: Sequence[Hashable], dtype: torch.dtype,
                device: torch.device, execute=None, leaves: list | None = None) -> torch.Tensor:
    """``(B, words)`` expectation values of ``words`` on the uncut circuit, from fragments.

    With ``leaves`` (a list), each fragment's raw table enters as a fresh leaf tensor appended
    there with its standard errors, so :func:`propagate_errors` can take derivatives."""
    cuts_by_wire: dict[Hashable, list[int]] = {}
    for w, after in cuts:
        cuts_by_wire.setdefault(w, []).append(after)
    last_segment = {w: len(cuts_by_wire.get(w, [])) for w in wires}
    batch = batch_size(ops)
    tensors, axes = [], []
    for frag in frags:
        parts, index = fragment_parts(frag, words, last_segment)
        raw, err = run_fragment(frag, ops, cuts_by_wire, parts, batch, dtype, device, execute)
        if leaves is not None:
            raw = raw.detach().requires_grad_(True)
            leaves.append((raw, err if err is not None else torch.zeros_like(raw)))
        t = to_pauli_inputs(raw, list(range(2, 2 + len(frag.in_cuts))))
        tensors.append(t[:, torch.tensor(index, device=t.device)])
        axes.append([*frag.in_cuts, *frag.out_cuts])
    values = contract(tensors, axes, len(cuts))
    return values if batch is not None else values[0]


def propagate_errors(out: torch.Tensor, leaves: list) -> torch.Tensor:
    """Standard errors of ``out`` ``(B, K)`` from independent fragment estimates (first-order
    error propagation: ``var = sum (d out / d T)^2 se(T)^2``; exact for one cut, where the
    estimate is bilinear in the two fragments' values)."""
    tensors = [t for t, _ in leaves]
    var = torch.zeros_like(out)
    for k in range(out.shape[-1]):
        grads = torch.autograd.grad(out[:, k].sum(), tensors, retain_graph=True,
                                    allow_unused=True)
        for g, (_, se) in zip(grads, leaves, strict=True):
            if g is not None:
                var[:, k] += (g**2 * se**2).reshape(g.shape[0], -1).sum(-1)
    return var.sqrt()

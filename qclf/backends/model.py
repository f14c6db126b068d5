"""Run a torch model with its quantum layers on a backend (classical parts stay in torch).

:func:`on_backend` is a context manager: inside it every ``qclf.TorchLayer`` of the model
records its circuit from its own QNode (the same tape the engine runs) and sends it to the
backend as ONE :class:`~qclf.backends.template.CircuitBatch` (all images/patches of the call
as a parameter array); layers made of several circuits on independent inputs
(:class:`~qclf.layers.ParallelCircuits`) send all their circuits as one job, and circuits of
the same shape share one PUB; a quanvolution sends all patches of all images as one PUB per
filter. :class:`~qclf.layers.WireCut` and :class:`~qclf.cutting.CutLayer` run their fragment
circuits (:mod:`qclf.cutting`) on the backend. Layers with no gate-level circuit raise
:class:`UnsupportedLayerError` before anything runs. Nothing is changed outside the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pennylane as qml
import torch
from torch import nn

from qclf.backends.base import Backend
from qclf.backends.errors import UnsupportedLayerError
from qclf.backends.template import CircuitBatch, Estimate, batch_from_tape

#: layer classes with no gate-level circuit a backend could run, and why
UNSUPPORTED: dict[str, str] = {
    "ReuploadLinear": "it applies diagonal phase unitaries and trained unitaries as explicit "
                      "2^n x 2^n matrices (S7's 'explicit matrices'), not as gates; evaluate a "
                      "model whose quantum layers are gate circuits (e.g. creep_l1)",
}


def record_layer(layer: qml.qnn.TorchLayer, x: torch.Tensor) -> tuple[CircuitBatch, bool]:
    """The layer's circuit for inputs ``x`` as a batch; ``True`` if it returns one measurement."""
    kwargs = {layer.input_arg: x,
              **{arg: w.detach().to(x) for arg, w in layer.qnode_weights.items()}}
    with qml.queuing.AnnotatedQueue() as q:
        output = layer.qnode.func(**kwargs)
    tape = qml.tape.QuantumScript.from_queue(q)
    wires = layer.qnode.device.wires
    batch = batch_from_tape(tape, list(wires) if wires else None)
    return batch, isinstance(output, qml.measurements.MeasurementProcess)


def _tensor(est: Estimate, like: torch.Tensor, single: bool) -> torch.Tensor:
    out = torch.as_tensor(est.values, dtype=like.dtype, device=like.device)
    if single and out.shape[-1] == 1:
        out = out[:, 0]
    return out if like.ndim > 1 else out[0]


def run_together(backend: Backend, batches: Sequence[CircuitBatch]) -> list[Estimate]:
    """One backend job for ``batches``; batches of the same template and observables are merged
    into one PUB (their bindings stacked) and split again afterwards."""
    groups: dict[tuple, list[int]] = {}
    for i, b in enumerate(batches):
        key = (id(b.template), repr(b.observables), b.probs_qubits)
        groups.setdefault(key, []).append(i)
    merged = []
    for idx in groups.values():
        first = batches[idx[0]]
        merged.append(CircuitBatch(first.template,
                                   np.concatenate([batches[i].values for i in idx]),
                                   first.observables, first.probs_qubits))
    results = backend.estimate(merged)
    out: list[Estimate | None] = [None] * len(batches)
    for idx, est in zip(groups.values(), results, strict=True):
        start = 0
        for i in idx:
            n = batches[i].size
            out[i] = Estimate(est.values[start:start + n], est.stderr[start:start + n])
            start += n
    return out  # type: ignore[return-value]


def run_layers(backend: Backend, layers: Sequence[qml.qnn.TorchLayer],
               inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``[layer(x) for layer, x in zip(layers, inputs)]`` on the backend, as one job.

    Inputs are ``(B, features)`` or ``(features,)``, as the layers' ``forward`` takes them.
    """
    recorded = []
    for layer, x in zip(layers, inputs, strict=True):
        flat = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x
        recorded.append((*record_layer(layer, flat), flat, x))
    results = run_together(backend, [r[0] for r in recorded])
    outs = []
    for (_, single, flat, x), est in zip(recorded, results, strict=True):
        y = _tensor(est, flat, single)
        outs.append(y.reshape(*x.shape[:-1], *y.shape[1:]) if x.ndim > 1 else y)
    return outs


def backend_simulate(backend: Backend):
    """A drop-in for ``qclf.quantum.simulate(ops, measurements, wire_order, ...)`` that runs on
    ``backend`` (used for layers that record and simulate their own tapes, e.g. WireCut)."""

    def simulate(operations, measurements, wire_order, dtype=torch.float64, device=None,
                 **_: Any) -> list[torch.Tensor]:
        tape = qml.tape.QuantumScript(list(operations), list(measurements))
        batch = batch_from_tape(tape, list(wire_order))
        est = backend.estimate([batch])[0]
        vals = torch.as_tensor(est.values, dtype=dtype, device=device)
        if batch.observables is None:
            return [vals if tape.batch_size else vals[0]]
        cols = [vals[:, m] for m in range(vals.shape[1])]
        return [c if tape.batch_size else c[0] for c in cols]

    return simulate


def check_model(model: nn.Module) -> list[str]:
    """Names of the quantum modules the backend path will run; raises
    :class:`UnsupportedLayerError` for a layer that cannot run on a backend."""
    names = []
    for name, module in model.named_modules():
        cls = type(module).__name__
        if cls in UNSUPPORTED:
            raise UnsupportedLayerError(
                f"layer {name or cls} ({cls}) cannot run on a backend: {UNSUPPORTED[cls]}")
        if isinstance(module, qml.qnn.TorchLayer) or cls in ("WireCut", "CutLayer"):
            names.append(name or cls)
    if not names:
        raise UnsupportedLayerError(
            f"{type(model).__name__} has no quantum layer: nothing would run on the backend "
            "(is this a classical twin?)")
    return names


@contextlib.contextmanager
def on_backend(model: nn.Module, backend: Backend) -> Iterator[list[str]]:
    """Inside the block, ``model``'s quantum layers run on ``backend`` (see module docstring).

    Yields the names of the quantum layers that run there.
    """
    from qclf.layers import ParallelCircuits
    from qclf.layers import wire_cut as wire_cut_module

    names = check_model(model)
    patched: list[tuple[Any, str, Any]] = []

    def patch(obj: Any, attr: str, value: Any) -> None:
        patched.append((obj, attr, obj.__dict__.get(attr, _MISSING)))
        obj.__dict__[attr] = value

    for module in model.modules():
        if isinstance(module, qml.qnn.TorchLayer):
            patch(module, "_evaluate_qnode",
                  lambda x, layer=module: run_layers(backend, [layer], [x])[0])
            patch(module, "_qclf_backend", backend)  # estimates now: not `analytic`
        elif isinstance(module, ParallelCircuits):
            patch(module, "forward", lambda x, m=module: _parallel_forward(m, backend, x))
    from qclf.cutting import reconstruct as cutting_module

    # layers that simulate recorded tapes themselves: WireCut's uncut path, and every cut
    # circuit's fragments (qclf.cutting: CutLayer, WireCut), which then run on the backend
    sims = [(m, m.simulate) for m in (wire_cut_module, cutting_module)]
    for m, _ in sims:
        m.simulate = backend_simulate(backend)
    try:
        yield names
    finally:
        for m, old_sim in sims:
            m.simulate = old_sim
        for obj, attr, old in reversed(patched):
            if old is _MISSING:
                del obj.__dict__[attr]
            else:
                obj.__dict__[attr] = old


_MISSING = object()


def _parallel_forward(layer, backend: Backend, x: torch.Tensor) -> torch.Tensor:
    """ParallelCircuits.forward with all circuits in one job (same math, see the layer)."""
    lead = x.shape[:-1]
    chunks = x.reshape(-1, layer.n_circuits, layer.chunk)
    outs = run_layers(backend, list(layer.circuits),
                      [chunks[:, i] for i in range(layer.n_circuits)])
    return torch.cat(outs, dim=-1).reshape(*lead, layer.out_features)

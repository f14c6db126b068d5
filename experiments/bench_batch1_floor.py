"""How fast can one batch-1 call be with torch operations? (issue 8, target 0.3 ms)

The issue's batch-1 row (5 qubits, AngleEmbedding(X) + StronglyEntanglingLayers(3), five
<Z> outputs, forward + backward to inputs and weights, float32, one thread) beside the floors
it is up against, all timed in one process the same way as ``bench_engine.py`` (interleaved
rounds, medians, process CPU time per call):

- ``linear``: an ``nn.Linear(5, 5)`` in the same harness (``zero_grad``, fresh input with
  ``requires_grad``, forward, ``sum().backward()``): what any layer's call costs before it
  computes anything;
- ``qclf``: ``qclf.TorchLayer`` (the engine); ``qclf compile=True``: the same layer with
  ``compile=True`` (its program through ``torch.compile``, :mod:`qclf.quantum.engine.compiled`);
- ``pennylane``: PennyLane's ``TorchLayer`` (the reference of the ratio);
- ``eager``: the same circuit written by hand for this one shape, as few torch operations as
  we found (three Kronecker-product layer unitaries, the CNOT rings as row permutations, one
  matrix-vector product per layer), differentiated by autograd;
- ``compiled`` (``--compile``): the hand-written circuit in real arithmetic (inductor does not
  generate code for complex operations) through ``torch.compile``; needs a C++ compiler and
  takes seconds to compile.

The hand-written versions are checked against qclf's values and gradients before timing.

    python experiments/bench_batch1_floor.py               # linear, qclf, pennylane, eager
    python experiments/bench_batch1_floor.py --compile     # and the torch.compile version
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_engine as be  # noqa: E402
from bench_timing import calls_per_run, interleaved  # noqa: E402

from qclf.quantum import TorchLayer  # noqa: E402

N = 5  # qubits
LAYERS = 3


def _ring_permutation(r: int) -> torch.Tensor:
    """Row permutation of StronglyEntanglingLayers' CNOT ring with range ``r``: the state after
    the ring is ``psi[perm]`` (wire 0 is the most significant bit, PennyLane's order)."""
    idx = torch.arange(1 << N)
    perm = torch.arange(1 << N)
    for i in range(N):
        control, target = i, (i + r) % N
        bit = (idx >> (N - 1 - control)) & 1
        perm = perm[idx ^ (bit << (N - 1 - target))]  # the first gate is the outermost
    return perm


PERMS = [_ring_permutation(layer % (N - 1) + 1) for layer in range(LAYERS)]
SIGNS = torch.tensor([[1.0 - 2 * ((i >> (N - 1 - w)) & 1) for w in range(N)]
                      for i in range(1 << N)])  # fmt: skip


def _rot_parts(w: torch.Tensor):
    """Real and imaginary parts of Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)."""
    phi, theta, omega = w[..., 0], w[..., 1], w[..., 2]
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    ap, am = (phi + omega) / 2, (phi - omega) / 2
    cp, sp, cm, sm = torch.cos(ap), torch.sin(ap), torch.cos(am), torch.sin(am)
    re = torch.stack([torch.stack([c * cp, -s * cm], -1), torch.stack([s * cm, c * cp], -1)], -2)
    im = torch.stack([torch.stack([-c * sp, -s * sm], -1), torch.stack([-s * sm, c * sp], -1)], -2)
    return re, im


def eager_circuit(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Five <Z> of the row's circuit in complex arithmetic, few operations."""
    c, s = torch.cos(x / 2), torch.sin(x / 2)
    zero = torch.zeros_like(c)
    v = torch.complex(torch.stack([c, zero], 1), torch.stack([zero, -s], 1))  # RX|0> per wire
    psi = v[0]
    for k in range(1, N):
        psi = (psi[:, None] * v[k][None, :]).reshape(-1)
    re, im = _rot_parts(w)
    rot = torch.complex(re, im)  # (layers, wires, 2, 2)
    u = rot[:, 0]
    for q in range(1, N):  # batched Kronecker product over the layers
        a, b = u, rot[:, q]
        u = (a[:, :, None, :, None] * b[:, None, :, None, :]).reshape(LAYERS, a.shape[1] * 2, -1)
    for layer in range(LAYERS):
        psi = u[layer][PERMS[layer]] @ psi
    return (psi.real**2 + psi.imag**2) @ SIGNS


def real_circuit(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:func:`eager_circuit` with (real, imaginary) pairs of real tensors, for inductor."""
    c, s = torch.cos(x / 2), torch.sin(x / 2)
    zero = torch.zeros_like(c)
    vre, vim = torch.stack([c, zero], 1), torch.stack([zero, -s], 1)  # RX|0> per wire
    pr, pi = vre[0], vim[0]
    for k in range(1, N):
        vr, vi = vre[k], vim[k]
        pr, pi = ((pr[:, None] * vr - pi[:, None] * vi).reshape(-1),
                  (pr[:, None] * vi + pi[:, None] * vr).reshape(-1))  # fmt: skip
    rr, ri = _rot_parts(w)
    ur, ui = rr[:, 0], ri[:, 0]
    for q in range(1, N):
        ar, ai = ur[:, :, None, :, None], ui[:, :, None, :, None]
        br, bi = rr[:, q][:, None, :, None, :], ri[:, q][:, None, :, None, :]
        size = ur.shape[1] * 2
        ur, ui = ((ar * br - ai * bi).reshape(LAYERS, size, size),
                  (ar * bi + ai * br).reshape(LAYERS, size, size))  # fmt: skip
    for layer in range(LAYERS):
        mr, mi = ur[layer][PERMS[layer]], ui[layer][PERMS[layer]]
        pr, pi = mr @ pr - mi @ pi, mr @ pi + mi @ pr
    return (pr * pr + pi * pi) @ SIGNS


def _harness(fn, params, x):
    """The bench_engine call: fresh gradients, input with requires_grad, forward, backward."""

    def run():
        for p in params:
            p.grad = None
        xi = x.detach().requires_grad_(True)
        y = fn(xi)
        y.sum().backward()
        return y, xi

    return run


def _check(name, run, params, ref_run, ref_params) -> None:
    y, xi = run()
    y_ref, xi_ref = ref_run()
    errs = [(y - y_ref).abs().max().item(), (xi.grad - xi_ref.grad).abs().max().item()]
    errs += [(p.grad.reshape(-1) - q.grad.reshape(-1)).abs().max().item()
             for p, q in zip(params, ref_params, strict=True)]  # fmt: skip
    if max(errs) > 1e-4:
        raise SystemExit(f"{name} disagrees with qclf: max abs differences {errs}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--compile", action="store_true", help="also time the torch.compile version")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--run-s", type=float, default=0.2,
                    help="each timed run makes about this many seconds of calls of one variant")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    be.print_header("batch-1 floors", "float32, fwd+bwd, SEL(3) on 5 qubits")
    qnode, shapes, pl_layer, qclf_layer, x = be._row_setup("b1", False)
    x = x[0]
    qclf_compiled = TorchLayer(qnode, shapes, strict=True, compile=True)
    qclf_compiled.load_state_dict(qclf_layer.state_dict())
    w = qclf_layer.weights.detach().clone().requires_grad_(True)
    linear = torch.nn.Linear(N, N)
    runs = {
        "linear": (_harness(linear, list(linear.parameters()), x), None),
        "qclf": (_harness(qclf_layer, [qclf_layer.weights], x), [qclf_layer.weights]),
        "pennylane": (_harness(pl_layer, [pl_layer.weights], x), None),
        "eager": (_harness(lambda xi: eager_circuit(xi, w), [w], x), [w]),
    }
    first = {}
    run = _harness(qclf_compiled, [qclf_compiled.weights], x)
    t0 = time.perf_counter()
    run()
    first["qclf compile=True"] = time.perf_counter() - t0
    runs["qclf compile=True"] = (run, [qclf_compiled.weights])
    if args.compile:
        wc = qclf_layer.weights.detach().clone().requires_grad_(True)
        compiled = torch.compile(real_circuit)
        run = _harness(lambda xi: compiled(xi, wc), [wc], x)
        t0 = time.perf_counter()
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - no compiler, unsupported platform: say so
            print(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); skipped")
        else:
            first["compiled"] = time.perf_counter() - t0
            runs["compiled"] = (run, [wc])
    ref_run, ref_params = runs["qclf"]
    for name in ("eager", "compiled", "qclf compile=True"):
        if name in runs:
            _check(name, runs[name][0], runs[name][1], ref_run, ref_params)
    calls = {}
    for name, (run, _) in runs.items():  # warm-up, and calls per run from one timed call
        for _ in range(5):
            run()
        calls[name] = calls_per_run(run, args.run_s, at_least=5, at_most=10**6)
    sides = {name: run for name, (run, _) in runs.items()}
    med = {k: cpu * 1e3 for k, (_, cpu) in interleaved(sides, args.rounds, calls).items()}
    print(f"\nmedian of {args.rounds} interleaved runs (each ~{args.run_s} s of calls of one "
          "variant), process CPU ms per forward+backward call; the hand-written versions agree "
          "with qclf within 1e-4\n")
    print("| variant | ms / call | PennyLane / variant |")
    print("|---|---:|---:|")
    for name, ms in med.items():
        extra = f" (first call, compiling: {first[name]:.1f} s)" if name in first else ""
        print(f"| {name}{extra} | {ms:.3f} | {med['pennylane'] / ms:.1f}x |")


if __name__ == "__main__":
    main()

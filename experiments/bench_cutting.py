"""Circuit cutting, side by side in one process: qclf's cut layer against the uncut circuit on the
engine, PennyLane's uncut circuit, and ``qml.cut_circuit`` on the same circuit and outputs.

Workload: the 8-qubit QCNN catalogue circuit (hadamard_angle encoding, qcnn_conv ansatz, S5) on
fragments of at most 5 qubits, forward + backward (gradients to inputs and weights), float64,
one torch thread. Every side is timed the same way: interleaved, median of 3 after a warm-up,
wall and process-CPU time. ``qml.cut_circuit`` handles one expectation value and no parameter
broadcasting, so every side computes ``<Z_5 Z_7>`` and PennyLane's cut circuit runs sample by
sample (on a sub-batch, scaled to the full batch: marked "scaled").

    python experiments/bench_cutting.py [--batch 256] [--sub-batch 8]
"""

from __future__ import annotations

import argparse
import time

import pennylane as qml
import torch
from bench_timing import interleaved
from qclf.circuits import get_circuit

from qclf.cutting import split
from qclf.cutting.split import _expand
from qclf.quantum import TorchLayer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--sub-batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    n, max_qubits = 8, 5
    enc, ans = get_circuit("hadamard_angle", "encoding"), get_circuit("qcnn_conv", "ansatz")
    shapes = {"weights": ans.shape(n, 1)}
    dev = qml.device("default.qubit", wires=n)

    def circuit(inputs, weights):
        enc(inputs, list(range(n)), rotation="Y")
        ans(weights, list(range(n)))
        return qml.expval(qml.PauliZ(5) @ qml.PauliZ(7))

    pl_uncut = qml.QNode(circuit, dev, interface="torch", diff_method="backprop")
    cut = split(circuit, max_qubits)
    x = torch.rand(args.batch, n, dtype=torch.float64, requires_grad=True)
    w = torch.rand(shapes["weights"], dtype=torch.float64, requires_grad=True)
    plan = cut.plan_for(x, w)

    def circuit_with_cuts(inputs, weights):
        """The same circuit with qml.WireCut where qclf's search put the cuts (PennyLane's own
        automatic placement needs KaHyPar, which is not installed)."""
        ops, _ = _expand(qml.tape.make_qscript(circuit)(inputs, weights).operations)
        for i, op in enumerate(ops):
            qml.apply(op)
            for wire, after in plan.cuts:
                if after == i:
                    qml.WireCut(wires=wire)
        return qml.expval(qml.PauliZ(5) @ qml.PauliZ(7))

    small = qml.device("default.qubit", wires=max_qubits)
    pl_cut = qml.cut_circuit(qml.QNode(circuit_with_cuts, small, interface="torch"))
    layer = TorchLayer(qml.QNode(circuit, dev, interface="torch"), shapes)

    def fwd_bwd(f, xs):
        def run():
            y = f(xs, w)
            torch.autograd.grad(y.sum(), (xs, w))
        return run

    def pl_cut_loop():
        xs = x[: args.sub_batch]
        for i in range(len(xs)):
            y = pl_cut(xs[i], w)
            torch.autograd.grad(y, (x, w), allow_unused=True)

    def layer_uncut():
        with torch.no_grad():
            layer.weights.copy_(w)
        y = layer(x)
        torch.autograd.grad(y.sum(), (x,))

    def qclf_forward():
        with torch.no_grad():
            cut(x, w)

    sides = {
        "qclf cut (engine, fragments <= 5 qubits)": fwd_bwd(cut, x),
        "qclf cut, forward only": qclf_forward,
        "qclf uncut (engine, 8 qubits)": layer_uncut,
        "PennyLane uncut (default.qubit, backprop)": fwd_bwd(pl_uncut, x),
        f"qml.cut_circuit (per sample, {args.sub_batch} scaled to {args.batch})": pl_cut_loop,
    }
    addon = _addon_side(circuit, x, w, plan, args.sub_batch)
    if addon is not None:
        sides[f"qiskit-addon-cutting, forward only, exact sampler (per sample, {args.sub_batch} "
              f"scaled to {args.batch})"] = addon[0]
    for fn in sides.values():  # warm-up (plans, caches)
        fn()
    times = interleaved(sides, args.repeats)
    scale = {name: (args.batch / args.sub_batch if "per sample" in name else 1.0)
             for name in sides}
    med = {k: (wall * scale[k], cpu * scale[k]) for k, (wall, cpu) in times.items()}
    y_cut = cut(x, w)
    y_ref = pl_uncut(x, w)
    y_plc = torch.stack([pl_cut(x[i], w) for i in range(4)])
    print(f"# bench_cutting  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  torch "
          f"{torch.__version__}, PennyLane {qml.__version__}, 1 thread, float64, batch "
          f"{args.batch}, median of {args.repeats} interleaved")
    print(f"\nplan: {plan.describe()}\n")
    full = med["qclf cut (engine, fragments <= 5 qubits)"][1]
    fwd = med["qclf cut, forward only"][1]
    print("| side | s per batch (wall) | s per batch (CPU) | CPU time / qclf cut's (same "
          "pass: fwd+bwd, or forward only) |")
    print("|---|---:|---:|---:|")
    for name, (wall, cpu) in med.items():
        base = fwd if "forward only" in name else full
        print(f"| {name} | {wall:.4f} | {cpu:.4f} | {cpu / base:.1f}x |")
    print(f"\nmax |qclf cut - PennyLane uncut| = {(y_cut - y_ref).abs().max():.2e}; "
          f"max |qml.cut_circuit - PennyLane uncut| (4 samples) = "
          f"{(y_plc - y_ref[:4]).abs().max():.2e}")
    if addon is not None:
        print(f"max |qiskit-addon-cutting - PennyLane uncut| ({args.sub_batch} samples) = "
              f"{abs(addon[1]() - y_ref[: args.sub_batch].detach().numpy()).max():.2e}")
    else:
        print("qiskit-addon-cutting: not installed (pip install qiskit-addon-cutting)")
    print(f"fragment circuits per sample: qclf {plan.circuits_per_sample} (4 preparations x 3 "
          "bases per cut, run as batch elements of one call per fragment)")


def _addon_side(circuit, x, w, plan, n):
    """qiskit-addon-cutting on the same circuit, cut and observable: per sample, bound circuit,
    ``CutWire`` at qclf's cut, exact sampler; returns (timed callable, values callable)."""
    try:
        from qiskit import QuantumCircuit
        from qiskit.quantum_info import SparsePauliOp
        from qiskit_addon_cutting import (
            cut_wires,
            expand_observables,
            generate_cutting_experiments,
            partition_problem,
            reconstruct_expectation_values,
        )
        from qiskit_addon_cutting.instructions import CutWire
        from qiskit_addon_cutting.utils.simulation import ExactSampler
    except ImportError:
        return None
    from qclf.backends.template import GATES

    ops, _ = _expand(qml.tape.make_qscript(circuit)(x[:n].detach(), w.detach()).operations)
    n_qubits = 8
    observable = SparsePauliOp.from_sparse_list([("ZZ", [5, 7], 1.0)], num_qubits=n_qubits)

    def bound(i: int) -> QuantumCircuit:
        qc = QuantumCircuit(n_qubits)
        for k, op in enumerate(ops):
            method, n_angles = GATES[op.name]
            angles = [float(p[i]) if getattr(p, "ndim", 0) else float(p)
                      for p in op.parameters[:n_angles]]
            getattr(qc, method)(*angles, *[int(q) for q in op.wires])
            for wire, after in plan.cuts:
                if after == k:
                    qc.append(CutWire(), [wire])
        return qc

    circuits = [bound(i) for i in range(n)]

    def values():
        out = []
        for qc in circuits:
            qc1 = cut_wires(qc)
            obs = expand_observables(observable.paulis, qc, qc1)
            problem = partition_problem(circuit=qc1, observables=obs)
            experiments, coefficients = generate_cutting_experiments(
                circuits=problem.subcircuits, observables=problem.subobservables,
                num_samples=float("inf"))
            results = {label: ExactSampler().run(e).result() for label, e in experiments.items()}
            terms = reconstruct_expectation_values(results, coefficients, problem.subobservables)
            total = sum(t * c for t, c in zip(terms, observable.coeffs, strict=True))
            out.append(float(total.real))
        import numpy as np

        return np.asarray(out)

    return values, values


if __name__ == "__main__":
    main()

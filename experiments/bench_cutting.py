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
import statistics
import time

import pennylane as qml
import torch
from qclf.circuits import get_circuit

from qclf.cutting import split
from qclf.cutting.split import _expand
from qclf.quantum import TorchLayer


def _timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up (plans, caches)
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


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

    sides = {
        "qclf cut (engine, fragments <= 5 qubits)": fwd_bwd(cut, x),
        "qclf uncut (engine, 8 qubits)": layer_uncut,
        "PennyLane uncut (default.qubit, backprop)": fwd_bwd(pl_uncut, x),
        f"qml.cut_circuit (per sample, {args.sub_batch} scaled to {args.batch})": pl_cut_loop,
    }
    results = {k: [] for k in sides}
    for _ in range(args.repeats):  # interleaved
        for name, fn in sides.items():
            results[name].append(_timed(fn, 1))
    scale = {name: (args.batch / args.sub_batch if "cut_circuit" in name else 1.0)
             for name in sides}
    med = {k: (statistics.median(v[0] for v in r) * scale[k],
               statistics.median(v[1] for v in r) * scale[k]) for k, r in results.items()}
    y_cut = cut(x, w)
    y_ref = pl_uncut(x, w)
    y_plc = torch.stack([pl_cut(x[i], w) for i in range(4)])
    print(f"# bench_cutting  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  torch "
          f"{torch.__version__}, PennyLane {qml.__version__}, 1 thread, float64, batch "
          f"{args.batch}, median of {args.repeats} interleaved")
    print(f"\nplan: {plan.describe()}\n")
    base_w, base_c = med["qclf cut (engine, fragments <= 5 qubits)"]
    print("| side | s per batch (wall) | s per batch (CPU) | vs qclf cut (CPU) |")
    print("|---|---:|---:|---:|")
    for name, (wall, cpu) in med.items():
        print(f"| {name} | {wall:.4f} | {cpu:.4f} | {cpu / base_c:.1f}x |")
    print(f"\nmax |qclf cut - PennyLane uncut| = {(y_cut - y_ref).abs().max():.2e}; "
          f"max |qml.cut_circuit - PennyLane uncut| (4 samples) = "
          f"{(y_plc - y_ref[:4]).abs().max():.2e}")
    print(f"fragment circuits per sample: qclf {plan.circuits_per_sample} (4 preparations x 3 "
          "bases per cut, run as batch elements of one call per fragment)")


if __name__ == "__main__":
    main()

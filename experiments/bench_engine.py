"""Benchmark qclf.TorchLayer against PennyLane's TorchLayer (forward + backward).

Workloads (all forward + backward through inputs and weights, float32 inputs):

* ``quanv``: 2x2 quanvolution, RY(pi x) encoding of a patch on 4 qubits, 2 layers of the
  ``quanv_block`` ansatz, <Z> on 4 qubits; ``--images`` x 196 patches (28x28 image, stride 2).
* ``parallel``: 4 circuits x 5 qubits, RX angle encoding, StronglyEntanglingLayers depth 3,
  <Y> on every qubit; batch 1024 per circuit (4096 circuits).
* ``qcnn``: 8 qubits, H + RY encoding, 3 levels of QCNN conv/pool, <Z> on the readout qubit;
  512 samples.

For each: PennyLane TorchLayer (default.qubit, backprop, parameter broadcasting) on the full
batch (or ``--pl-circuits`` of it), lightning.qubit (adjoint) on a small sub-batch with a time
cap, and qclf.TorchLayer on the full batch, side by side in one process; circuits/s, the ratio
qclf / PennyLane and the max |qclf - PennyLane| on the PennyLane batch.

    python experiments/bench_engine.py                # CPU, 1024 images
    python experiments/bench_engine.py --device cuda  # GPU
    python experiments/bench_engine.py --quick        # small batches, smoke test
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import pennylane as qml
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qclf.circuits import build_qnode, qcnn_readout  # noqa: E402

from qclf.quantum import TorchLayer  # noqa: E402


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _fwd_bwd(layer, x):
    x = x.detach().requires_grad_(True)
    y = layer(x)
    y.sum().backward()
    return y.detach()


def _timed(layer, x, device, repeats=1):
    """(best wall seconds, CPU seconds of that run, output) over ``repeats`` runs."""
    best, best_cpu, y = math.inf, math.inf, None
    for _ in range(repeats):
        layer.zero_grad(set_to_none=True)
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        y = _fwd_bwd(layer, x)
        _sync(device)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, best_cpu = wall, cpu
    return best, best_cpu, y


def _workloads(args):
    n_img = args.images
    if args.quick:
        n_img = min(n_img, 16)
    quanv = build_qnode(
        4,
        "angle",
        "quanv_block",
        depth=2,
        encoding_kw={"rotation": "Y", "scale": math.pi},
        diff_method="backprop",
    )
    par = build_qnode(
        5, "angle", "strongly_entangling", depth=3, measurement="Y", diff_method="backprop"
    )
    qcnn = build_qnode(
        8,
        "hadamard_angle",
        "qcnn",
        depth=3,
        measure_wires=qcnn_readout(range(8), 3),
        diff_method="backprop",
    )
    return [
        # name, (qnode, weight_shapes), n_features, n_layers, batch per layer, description
        ("quanvolution", quanv, 4, 1, n_img * 196, f"{n_img} images x 196 patches, 4 qubits"),
        ("parallel", par, 5, 4, 64 if args.quick else 1024, "4 circuits x 5 qubits, SEL depth 3"),
        ("qcnn", qcnn, 8, 1, 64 if args.quick else 512, "8 qubits, 3 conv/pool levels"),
    ]


def _lightning_layer(qnode_ws, n_wires):
    qnode, ws = qnode_ws
    dev = qml.device("lightning.qubit", wires=n_wires)
    ln = qml.QNode(qnode.func, dev, interface="torch", diff_method="adjoint")
    return qml.qnn.TorchLayer(ln, ws)


def _run_lightning(layers, xs, cap_s, chunk=16):
    """circuits/s over a sub-batch; None if the time cap was hit before it finished."""
    done, t_total = 0, 0.0
    n = sum(x.shape[0] for x in xs)
    with tqdm(total=n, desc="lightning.qubit adjoint", leave=False) as bar:
        for layer, x in zip(layers, xs, strict=True):
            for i in range(0, x.shape[0], chunk):
                xc = x[i : i + chunk]
                t0 = time.perf_counter()
                _fwd_bwd(layer, xc)
                t_total += time.perf_counter() - t0
                done += xc.shape[0]
                bar.update(xc.shape[0])
                if t_total > cap_s:
                    return None, done / t_total
    return done / t_total, done / t_total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu", help="torch device for qclf (cpu, cuda)")
    ap.add_argument("--images", type=int, default=1024, help="images for the quanvolution load")
    ap.add_argument("--quick", action="store_true", help="small batches (smoke test)")
    ap.add_argument("--pl-circuits", type=int, default=0, help="cap PennyLane's batch (0: full)")
    ap.add_argument("--lightning-circuits", type=int, default=256)
    ap.add_argument("--lightning-cap", type=float, default=60.0, help="seconds per workload")
    ap.add_argument("--no-lightning", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="qclf timing: best of N")
    ap.add_argument("--workloads", default="quanvolution,parallel,qcnn")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads for every engine (0: keep)"
    )
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.quick:
        args.lightning_circuits = min(args.lightning_circuits, 32)

    print(
        f"# qclf engine benchmark  {time.strftime('%Y-%m-%d %H:%M %Z')}  "
        f"torch {torch.__version__}, PennyLane {qml.__version__}, "
        f"{platform.processor() or platform.machine()}, threads={torch.get_num_threads()}, "
        f"qclf device={device}, load average {os.getloadavg()[0]:.1f}"
    )
    rows = []
    wanted = set(args.workloads.split(","))
    for name, qnode_ws, n_feat, n_layers, batch, desc in _workloads(args):
        if name not in wanted:
            continue
        qnode, ws = qnode_ws
        torch.manual_seed(0)
        pl_layers = [qml.qnn.TorchLayer(qnode, ws) for _ in range(n_layers)]
        qc_layers = [TorchLayer(qnode, ws) for _ in range(n_layers)]
        for a, b in zip(pl_layers, qc_layers, strict=True):
            b.load_state_dict(a.state_dict())
        qc_layers = [b.to(device) for b in qc_layers]
        gen = torch.Generator().manual_seed(1)
        xs = [torch.rand(batch, n_feat, generator=gen) for _ in range(n_layers)]
        total = batch * n_layers

        # qclf: full batch, best of N after a warm-up
        xs_dev = [x.to(device) for x in xs]
        for b, x in zip(qc_layers, xs_dev, strict=True):
            _fwd_bwd(b, x[:256])
        t_q = c_q = 0.0
        ys_q = []
        for b, x in zip(qc_layers, xs_dev, strict=True):
            t, c, y = _timed(b, x, device, repeats=args.repeats)
            t_q += t
            c_q += c
            ys_q.append(y)
        assert all(b.compiled for b in qc_layers), [b.fallback_reason for b in qc_layers]
        rate_q = total / t_q

        # PennyLane default.qubit backprop (CPU), full batch unless capped
        pl_batch = batch if args.pl_circuits <= 0 else min(batch, args.pl_circuits)
        for a, x in zip(pl_layers, xs, strict=True):
            _fwd_bwd(a, x[:64])
        t_p = c_p = diff = 0.0
        for a, x, yq in zip(
            tqdm(pl_layers, desc=f"PennyLane {name}", leave=False), xs, ys_q, strict=True
        ):
            t, c, y = _timed(a, x[:pl_batch], "cpu", repeats=1)
            t_p += t
            c_p += c
            diff = max(diff, (y - yq[:pl_batch].cpu()).abs().max().item())
        rate_p = pl_batch * n_layers / t_p

        # lightning.qubit adjoint on a small sub-batch (it loops over the batch)
        rate_l, note_l = None, "skipped"
        if not args.no_lightning:
            n_wires = len(qnode.device.wires)
            l_layers = [_lightning_layer(qnode_ws, n_wires) for _ in range(n_layers)]
            for a, b in zip(pl_layers, l_layers, strict=True):
                b.load_state_dict(a.state_dict())
            per = max(1, args.lightning_circuits // n_layers)
            rate_l, partial = _run_lightning(l_layers, [x[:per] for x in xs], args.lightning_cap)
            note_l = (
                f"{rate_l:,.0f}"
                if rate_l is not None
                else f"did not finish in {args.lightning_cap:.0f} s (~{partial:,.0f})"
            )
        cpu_ratio = (total / c_q) / (pl_batch * n_layers / c_p)
        rows.append(
            (name, desc, total, pl_batch * n_layers, rate_p, note_l, rate_q, cpu_ratio, diff)
        )

    print()
    print(
        "| workload | circuits (qclf / PennyLane batch) | PennyLane default.qubit backprop "
        "[circ/s] | lightning.qubit adjoint [circ/s] | qclf "
        f"({device.type}) [circ/s] | qclf / PennyLane (wall) | qclf / PennyLane (CPU time) "
        "| max abs diff |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, desc, total, pl_total, rate_p, note_l, rate_q, cpu_ratio, diff in rows:
        print(
            f"| {name} ({desc}) | {total:,} / {pl_total:,} | {rate_p:,.0f} | {note_l} | "
            f"{rate_q:,.0f} | {rate_q / rate_p:.1f}x | {cpu_ratio:.1f}x | {diff:.1e} |"
        )
    print(
        "\ncircuits/s are wall-clock, forward + backward, float32 inputs; qclf best of "
        f"{args.repeats}, PennyLane one run after a warm-up; the CPU-time ratio uses "
        "process CPU seconds (less sensitive to other load on a shared machine)."
    )


if __name__ == "__main__":
    main()

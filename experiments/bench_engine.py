"""Fair benchmark of qclf.TorchLayer against PennyLane's TorchLayer (issue 8 protocol).

Both sides run in one process on identical weights and inputs, forward + backward (gradients to
inputs and weights), float32, one torch thread. Per row: one warm-up call each, then 3 rounds
of (PennyLane, qclf) interleaved; the figures are medians of the 3. A round times the same
number of calls on both sides, enough for the PennyLane run to last about 0.25 s (one call for
the large rows, up to a few dozen for the millisecond ones). Ratios are PennyLane / qclf
for wall time and for process CPU time (the fair figure on a shared machine: other jobs' load
inflates wall time, not this process' CPU time). Peak memory: resident set size above the
level before the call (after returning freed heap to the OS), sampled every millisecond in an
extra, untimed call of each side.

Rows: 4-qubit quanvolution (RY(pi x) + 2 quanv_block layers) at 200,704 and 12,544 circuits;
StronglyEntanglingLayers(3) with RX angle encoding on 5 and 8 qubits at batch 64 and on 12 at
256; 6 qubits at 256: IQPEmbedding + SEL(3), QAOAEmbedding (2 layers), RX encoding +
RandomLayers (3 x 12); the 8-qubit QCNN at 512; and one call at batch 1 (5 qubits, SEL(3)).

    nice python experiments/bench_engine.py                 # all rows, prints a markdown table
    nice python experiments/bench_engine.py --rows sel5,b1  # some rows
    python experiments/bench_engine.py --quick              # small batches (smoke test)
    python experiments/bench_engine.py --json out.json      # also write the rows as JSON
    python experiments/bench_engine.py --compile            # qclf with compile=True
    python experiments/bench_engine.py --compile-ab         # PL, qclf, qclf compile=True
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import platform
import sys
import threading
import time
from pathlib import Path

import pennylane as qml
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_timing import calls_per_run, interleaved  # noqa: E402
from qclf.circuits import build_qnode, qcnn_readout  # noqa: E402

from qclf.quantum import TorchLayer  # noqa: E402

# ------------------------------------------------------------------------ fair timing


def _trim_heap() -> None:
    with contextlib.suppress(OSError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_mib(fn) -> float:
    """Peak resident memory above the starting level while ``fn()`` runs (MiB, sampled)."""
    _trim_heap()
    base = _rss()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.001)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        fn()
    finally:
        done.set()
        th.join()
    peak[0] = max(peak[0], _rss())
    return (peak[0] - base) / 2**20


def fair_compare(ref_fn, new_fn, rounds: int = 3, memory: bool = True,
                 min_run_s: float = 0.25) -> dict:  # fmt: skip
    """Warm-up, then ``rounds`` interleaved (ref, new) timed runs (:mod:`bench_timing`);
    medians, ratios, peak memory.

    A run is ``reps`` calls of one side, the same ``reps`` for both sides: enough calls that a
    run of the reference lasts about ``min_run_s``. Figures are per call."""
    ref_fn()
    new_fn()
    reps = calls_per_run(ref_fn, min_run_s)
    med = interleaved({"ref": ref_fn, "new": new_fn}, rounds, reps)
    out = {
        "ref_wall_s": med["ref"][0], "ref_cpu_s": med["ref"][1],
        "new_wall_s": med["new"][0], "new_cpu_s": med["new"][1],
        "calls_per_run": reps,
    }  # fmt: skip
    out["wall_ratio"] = out["ref_wall_s"] / out["new_wall_s"]
    out["cpu_ratio"] = out["ref_cpu_s"] / max(out["new_cpu_s"], 1e-9)
    if memory:
        out["ref_peak_mib"] = peak_rss_mib(ref_fn)
        out["new_peak_mib"] = peak_rss_mib(new_fn)
    return out


# ----------------------------------------------------------------------------- rows


def _qnode(n, func, **kw):
    dev = qml.device("default.qubit", wires=n)
    return qml.QNode(func, dev, interface="torch", diff_method="backprop", **kw)


def _sel(n):
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n), rotation="X")
        qml.StronglyEntanglingLayers(weights, wires=range(n))
        return [qml.expval(qml.PauliZ(w)) for w in range(n)]

    return _qnode(n, circuit), {"weights": (3, n, 3)}, n


def _iqp_sel(n=6):
    def circuit(inputs, weights):
        qml.IQPEmbedding(inputs, wires=range(n))
        qml.StronglyEntanglingLayers(weights, wires=range(n))
        return [qml.expval(qml.PauliZ(w)) for w in range(n)]

    return _qnode(n, circuit), {"weights": (3, n, 3)}, n


def _qaoa(n=6):
    def circuit(inputs, weights):
        qml.QAOAEmbedding(inputs, weights, wires=range(n))
        return [qml.expval(qml.PauliZ(w)) for w in range(n)]

    return _qnode(n, circuit), {"weights": qml.QAOAEmbedding.shape(2, n)}, n


def _random_layers(n=6):
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(n), rotation="X")
        qml.RandomLayers(weights, wires=range(n), seed=42)
        return [qml.expval(qml.PauliZ(w)) for w in range(n)]

    return _qnode(n, circuit), {"weights": (3, 12)}, n


def _quanv():
    qnode, ws = build_qnode(4, "angle", "quanv_block", depth=2,
                            encoding_kw={"rotation": "Y", "scale": math.pi},
                            diff_method="backprop")  # fmt: skip
    return qnode, ws, 4


def _qcnn():
    qnode, ws = build_qnode(8, "hadamard_angle", "qcnn", depth=3, diff_method="backprop",
                            measure_wires=qcnn_readout(range(8), 3))  # fmt: skip
    return qnode, ws, 8


ROWS = {  # name: (builder, batch, quick batch, description)
    "quanv_large": (_quanv, 200_704, 2048, "4-qubit quanvolution (1024 images x 196 patches)"),
    "quanv_small": (_quanv, 12_544, 512, "4-qubit quanvolution (64 images x 196 patches)"),
    "sel5": (lambda: _sel(5), 64, 64, "5 qubits, StronglyEntanglingLayers(3)"),
    "sel8": (lambda: _sel(8), 64, 64, "8 qubits, StronglyEntanglingLayers(3)"),
    "sel12": (lambda: _sel(12), 256, 16, "12 qubits, StronglyEntanglingLayers(3)"),
    "iqp": (_iqp_sel, 256, 32, "6 qubits, IQPEmbedding + StronglyEntanglingLayers(3)"),
    "qaoa": (_qaoa, 256, 32, "6 qubits, QAOAEmbedding (2 layers)"),
    "random": (_random_layers, 256, 32, "6 qubits, RandomLayers (3 x 12)"),
    "qcnn": (_qcnn, 512, 64, "8-qubit QCNN (3 conv/pool levels)"),
    "b1": (lambda: _sel(5), 1, 1, "batch 1, 5 qubits, StronglyEntanglingLayers(3)"),
}


def _fwd_bwd(layer, x):
    def run():
        layer.zero_grad(set_to_none=True)
        xi = x.detach().requires_grad_(True)
        y = layer(xi)
        y.sum().backward()
        return y

    return run


def _row_setup(name: str, quick: bool, batch: int | None = None, compile: bool = False):
    """(qnode, weight_shapes, PennyLane layer, qclf layer with the same weights, inputs);
    ``batch`` overrides the row's batch size; ``compile``: the qclf layer with
    ``compile=True``."""
    build, row_batch, quick_batch, _ = ROWS[name]
    qnode, ws, n_in = build()
    batch = batch or (quick_batch if quick else row_batch)
    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(qnode, ws)
    new = TorchLayer(qnode, ws, strict=True, compile=compile)
    new.load_state_dict(ref.state_dict())
    x = torch.rand(batch, n_in, generator=torch.Generator().manual_seed(1))
    return qnode, ws, ref, new, x


def bench_row(name: str, quick: bool = False, rounds: int = 3, compile: bool = False) -> dict:
    _, _, ref, new, x = _row_setup(name, quick, compile=compile)
    batch, desc = x.shape[0], ROWS[name][3]
    if batch == 1:
        x = x[0]
    ref_fn, new_fn = _fwd_bwd(ref, x), _fwd_bwd(new, x)
    t0 = time.perf_counter()
    y_new = new_fn().detach()
    first_call_s = time.perf_counter() - t0  # compiling, with compile=True
    diff = (ref_fn().detach() - y_new).abs().max().item()
    gdiff = max((p.grad - dict(new.named_parameters())[k].grad).abs().max().item()
                for k, p in ref.named_parameters())  # fmt: skip
    row = {"row": name, "description": desc, "batch": batch, "max_abs_diff": diff,
           "max_abs_grad_diff": gdiff, "compile": compile,
           "new_first_call_s": first_call_s}  # fmt: skip
    row.update(fair_compare(ref_fn, new_fn, rounds=rounds))
    row["plan_compiles"] = new.plans.compiles
    if compile:  # did the calls run on the compiled program?
        programs = [p.consts.get("compiled") for p in new.plans._plans.values()]
        row["torch_compiled"] = any(p is not None and not p.failed for p in programs)
    return row


def compile_ab_row(name: str, quick: bool = False, rounds: int = 5,
                   min_run_s: float = 0.25) -> dict:  # fmt: skip
    """PennyLane, qclf and qclf with ``compile=True`` in one process: warm-up (compiling),
    then ``rounds`` interleaved runs of each (each about ``min_run_s`` of calls); medians of
    the process CPU time per call."""
    qnode, ws, ref, new, x = _row_setup(name, quick)
    comp = TorchLayer(qnode, ws, strict=True, compile=True)
    comp.load_state_dict(ref.state_dict())
    if x.shape[0] == 1:
        x = x[0]
    fns = {"pl": _fwd_bwd(ref, x), "engine": _fwd_bwd(new, x), "compiled": _fwd_bwd(comp, x)}
    t0 = time.perf_counter()
    fns["compiled"]()
    row = {"row": name, "description": ROWS[name][3], "batch": x.shape[0] if x.dim() > 1 else 1,
           "compile_s": time.perf_counter() - t0}  # fmt: skip
    reps = {}
    for k, fn in fns.items():
        fn()
        reps[k] = calls_per_run(fn, min_run_s, at_least=3)
    for k, (_, cpu) in interleaved(fns, rounds, reps).items():
        row[f"{k}_cpu_s"] = cpu
    programs = [p.consts.get("compiled") for p in comp.plans._plans.values()]
    row["torch_compiled"] = any(p is not None and not p.failed for p in programs)
    return row


def print_header(title: str, details: str) -> None:
    """One line naming the run: what, when, versions, threads, and the machine's load."""
    print(f"# {title}  {time.strftime('%Y-%m-%d %H:%M %Z')}  torch {torch.__version__}, "
          f"PennyLane {qml.__version__}, {platform.machine()}, threads={torch.get_num_threads()}"
          f", {details}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip


def float64_check(name: str, quick: bool = False, batch: int | None = None) -> dict:
    """float32 errors of PennyLane and qclf against a float64 reference (qclf in float64, equal
    to PennyLane's float64 to 1e-10 by the tests): outputs and the summed weight gradients."""
    qnode, ws, ref, new, x = _row_setup(name, quick, batch)
    batch = x.shape[0]
    new64 = TorchLayer(qnode, ws, strict=True)
    new64.load_state_dict(ref.state_dict())
    new64.double()
    out = {}
    for label, layer, xi in (("pl32", ref, x), ("qclf32", new, x), ("f64", new64, x.double())):
        y = layer(xi)
        y.sum().backward()
        params = sorted(layer.named_parameters())
        grads = torch.cat([p.grad.double().reshape(-1) for _, p in params])
        out[label] = (y.detach().double(), grads)
    y64, g64 = out["f64"]
    scale = g64.abs().max().item()
    row = {"row": name, "batch": batch, "max_abs_grad": scale}
    for label in ("pl32", "qclf32"):
        y, g = out[label]
        row[f"{label}_value_err"] = (y - y64).abs().max().item()
        row[f"{label}_grad_err"] = (g - g64).abs().max().item()
    return row


def _fmt_ms(s: float) -> str:
    return f"{s * 1e3:,.2f}" if s < 0.1 else f"{s * 1e3:,.0f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma list of {', '.join(ROWS)}")
    ap.add_argument("--quick", action="store_true", help="small batches (smoke test)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    ap.add_argument("--compile-ab", action="store_true",
                    help="instead: PennyLane, qclf and qclf with compile=True, interleaved in "
                         "one process (CPU ms and ratios)")
    ap.add_argument("--compile", action="store_true",
                    help="qclf layers with compile=True (torch.compile; rows it cannot "
                         "express run as usual, marked in the table)")
    ap.add_argument("--float64-check", action="store_true",
                    help="instead of timing: float32 errors of both sides against float64")
    ap.add_argument("--batches", default="",
                    help="with --float64-check: comma list of batch sizes to run each row at "
                         "(how the summed gradients' errors grow with the batch)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.float64_check:
        print_header("float32 accuracy against float64", "fwd+bwd, summed weight gradients")
        print("\n| row | batch | max abs grad | PL f32 value / grad error | qclf f32 value / grad "
              "error | qclf grad error / max abs grad |")
        print("|---|---:|---:|---:|---:|---:|")
        batches = [int(b) for b in args.batches.split(",") if b] or [None]
        for name, batch in ((n, b) for n in args.rows.split(",") for b in batches):
            r = float64_check(name, quick=args.quick, batch=batch)
            print(f"| {ROWS[name][3]} | {r['batch']:,} | {r['max_abs_grad']:,.1f} | "
                  f"{r['pl32_value_err']:.1e} / {r['pl32_grad_err']:.1e} | "
                  f"{r['qclf32_value_err']:.1e} / {r['qclf32_grad_err']:.1e} | "
                  f"{r['qclf32_grad_err'] / r['max_abs_grad']:.1e} |", flush=True)  # fmt: skip
        return
    if args.compile_ab:
        rounds = max(args.rounds, 5)
        print_header("compile=True A/B", f"float32, fwd+bwd, median of {rounds}")
        print("\n| row | batch | first call [s] | PennyLane [ms] | qclf [ms] | qclf compile=True "
              "[ms] | PL / qclf | PL / compiled | qclf / compiled |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = []
        for name in args.rows.split(","):
            r = compile_ab_row(name, quick=args.quick, rounds=rounds)
            rows.append(r)
            pl, en, co = (r[f"{k}_cpu_s"] for k in ("pl", "engine", "compiled"))
            mark = "" if r["torch_compiled"] else " (not compiled)"
            print(f"| {r['description']}{mark} | {r['batch']:,} | {r['compile_s']:.1f} | "
                  f"{_fmt_ms(pl)} | {_fmt_ms(en)} | {_fmt_ms(co)} | {pl / en:.1f}x | "
                  f"{pl / co:.1f}x | {en / co:.2f} |", flush=True)  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return
    print_header("qclf engine benchmark", "float32, fwd+bwd"
                 + (", qclf with compile=True" if args.compile else ""))
    rows = []
    for name in args.rows.split(","):
        row = bench_row(name, quick=args.quick, rounds=args.rounds, compile=args.compile)
        rows.append(row)
        extra = ""
        if args.compile:
            extra = (f", first call {row['new_first_call_s']:.1f} s, torch.compiled: "
                     f"{row['torch_compiled']}")  # fmt: skip
        print(f"  {name}: PL {_fmt_ms(row['ref_wall_s'])} ms, qclf {_fmt_ms(row['new_wall_s'])} "
              f"ms, cpu ratio {row['cpu_ratio']:.1f}x{extra}", flush=True)  # fmt: skip
    print()
    print("| row | batch | PennyLane [ms] | qclf [ms] | PL / qclf (wall) | PL / qclf (CPU) "
          "| peak MiB PL / qclf | max abs diff (value, grad) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        mark = " (not compiled)" if args.compile and not r["torch_compiled"] else ""
        print(f"| {r['description']}{mark} | {r['batch']:,} | {_fmt_ms(r['ref_wall_s'])} | "
              f"{_fmt_ms(r['new_wall_s'])} | {r['wall_ratio']:.1f}x | {r['cpu_ratio']:.1f}x | "
              f"{r['ref_peak_mib']:.0f} / {r['new_peak_mib']:.0f} | "
              f"{r['max_abs_diff']:.1e}, {r['max_abs_grad_diff']:.1e} |")  # fmt: skip
    print("\nmedian of 3 interleaved runs after a warm-up, wall-clock ms per forward+backward "
          "call; CPU ratio from process CPU seconds (the fair figure on a shared machine).")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

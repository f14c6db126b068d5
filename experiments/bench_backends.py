"""Hardware-path benchmark and accuracy-vs-shots table for qclf.backends.

``--what speed``: circuits (bindings) per second evaluating a trained HQNN-Parallel (S1) model's
quantum layer (4 circuits x 5 qubits, StronglyEntangling depth 3, <Y> on every qubit) on Aer
at 1,024 shots, without noise and with the fake_manila noise model, three ways, side by side in
one process, interleaved, median of 3 after a warm-up, wall and process-CPU time:

* ``qclf``: ``qclf.backends`` via ``on_backend`` (records the tape, one PUB for all bindings;
  without noise: Aer's exact distribution per binding + multinomial shots, with noise: Aer's
  ``SamplerV2`` shot by shot);
* ``pennylane-qiskit``: the ``qiskit.aer`` device running the same QNode on the same inputs
  (it expands the broadcast batch into one circuit per binding; run on ``--pl-images`` images);
* ``bare Aer PUB``: the already transpiled Qiskit circuit and the parameter array handed to Aer's
  ``SamplerV2`` directly (shot-by-shot sampling; with noise exactly what qclf runs, without
  qclf's recording, conversion and post-processing), and Aer's ``EstimatorV2`` on the same PUB
  (it adds Gaussian noise of width 1/sqrt(shots) to exact values instead of sampling shots).

``--what accuracy``: trains S1 (hqnn_parallel) and S2 (hqnn_quanv) on scikit-learn's digits and
evaluates each with ``qclf evaluate``: exact, Aer 64..4,096 shots, Aer + fake_manila noise at
1,024 shots, and the fake:fake_manila device path at 1,024 shots.

    nice python experiments/bench_backends.py --what speed
    nice python experiments/bench_backends.py --what accuracy --out runs/hw
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_timing import interleaved  # noqa: E402

from qclf.backends import get_backend  # noqa: E402
from qclf.backends.model import on_backend, record_layer  # noqa: E402
from qclf.backends.qiskit_common import sampler_pubs  # noqa: E402
from qclf.cli import main as qclf  # noqa: E402

SHOTS = 1024


def _trained_s1(out: Path) -> Path:
    if not (out / "checkpoint.pt").exists():
        qclf(["train", "--model", "hqnn_parallel", "--dataset", "digits", "--epochs", "8",
              "--limit", "400", "--lr", "0.01", "--batch-size", "32", "--out", str(out),
              "--no-progress", "--overwrite"])
    return out


def _sides(block, feats: torch.Tensor, noise: str | None, pl_images: int) -> dict:
    """The four ways to run ``block``'s circuits on ``feats``: name -> (callable, bindings)."""
    import pennylane as qml
    from qiskit_aer.noise import NoiseModel
    from qiskit_aer.primitives import EstimatorV2, SamplerV2

    from qclf.backends import fake_backend
    from qclf.backends.qiskit_common import observable_array

    backend = get_backend("aer", shots=SHOTS, noise=noise, seed=1)
    chunks = feats.reshape(-1, block.n_circuits, block.chunk)
    n_bind = block.n_circuits * len(feats)

    def run_qclf():
        with on_backend(block, backend):
            block(feats)

    # bare PUBs: the same transpiled circuit and parameter array, straight into Aer
    batches = [record_layer(c, chunks[:, i])[0] for i, c in enumerate(block.circuits)]
    merged = type(batches[0])(batches[0].template, np.concatenate([b.values for b in batches]),
                              batches[0].observables)
    pubs, _ = sampler_pubs([merged], backend.target_key, backend.pass_manager)
    sampler = SamplerV2.from_backend(backend.simulator, default_shots=SHOTS, seed=1)
    isa = backend.pass_manager.run(merged.template.qiskit_circuit())
    est_pubs = [(isa, observable_array(merged.observables, isa.layout),
                 merged.values[:, None, :])]
    estimator = EstimatorV2.from_backend(backend.simulator,
                                         options={"default_precision": SHOTS ** -0.5})

    # pennylane-qiskit: the same QNode function on the qiskit.aer device, same Aer thread caps
    layer = block.circuits[0]
    kw = {"noise_model": NoiseModel.from_backend(fake_backend(noise))} if noise else {}
    dev = qml.device("qiskit.aer", wires=5, shots=SHOTS, seed_simulator=1,
                     max_parallel_threads=1, max_parallel_experiments=1, **kw)
    pl = qml.QNode(layer.qnode.func, dev, interface="torch")
    weights = {k: w.detach().double() for k, w in layer.qnode_weights.items()}
    pl_x = chunks[:pl_images, 0]
    return {
        "qclf packed PUB": (run_qclf, n_bind),
        "bare Aer SamplerV2 PUB": (lambda: sampler.run(pubs).result(), n_bind),
        "bare Aer EstimatorV2 PUB (Gaussian)": (lambda: estimator.run(est_pubs).result(),
                                                n_bind),
        "pennylane-qiskit qiskit.aer": (lambda: pl(pl_x, **weights), len(pl_x)),
    }


def speed(args: argparse.Namespace) -> list[dict]:
    from qclf.backends.runs import load_run

    run = load_run(_trained_s1(Path(args.out) / "s1_speed"), limit=args.images)
    with torch.no_grad():
        feats = run.model.features(run.images)  # (B, 20): what the quantum block sees
    rows = []
    for noise in (None, "fake_manila"):
        sides = _sides(run.model.block, feats, noise, args.pl_images)
        for fn, _ in sides.values():  # warm-up (transpile caches)
            fn()
        times = interleaved({name: fn for name, (fn, _) in sides.items()}, 3)
        for name, (_, n) in sides.items():
            wall, cpu = times[name]
            rows.append({"noise": noise or "none", "side": name, "bindings": n,
                         "wall_s": wall, "cpu_s": cpu, "per_s_wall": n / wall,
                         "per_s_cpu": n / cpu})
    _print_speed(rows)
    return rows


def _print_speed(rows: list[dict]) -> None:
    print(f"\nAer, {SHOTS} shots; circuits/s = bindings per second (median of 3, interleaved)\n")
    print("| noise | side | bindings | circuits/s (wall) | circuits/s (CPU) | qclf / side (wall)"
          " | qclf / side (CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        q = next(x for x in rows if x["noise"] == r["noise"] and x["side"] == "qclf packed PUB")
        print(f"| {r['noise']} | {r['side']} | {r['bindings']} | {r['per_s_wall']:,.0f} | "
              f"{r['per_s_cpu']:,.0f} | {q['per_s_wall'] / r['per_s_wall']:.2f}x | "
              f"{q['per_s_cpu'] / r['per_s_cpu']:.2f}x |")


def accuracy(args: argparse.Namespace) -> list[dict]:
    out = Path(args.out)
    rows = []
    for model in ("hqnn_parallel", "hqnn_quanv"):
        run = out / f"{model}-digits"
        if not (run / "checkpoint.pt").exists():
            qclf(["train", "--model", model, "--dataset", "digits", "--epochs", "10",
                  "--lr", "0.01", "--batch-size", "32", "--out", str(run), "--no-progress",
                  "--overwrite"])
        common = ["--seed", "0", "--no-progress", "--chunk-size", "128"]
        qclf(["evaluate", str(run), "--backend", "aer", "--sweep-shots", "64,256,1024,4096",
              *common])
        qclf(["evaluate", str(run), "--backend", "aer", "--noise", "fake_manila",
              "--shots", "1024", *common])
        qclf(["evaluate", str(run), "--backend", "fake:fake_manila", "--shots", "1024",
              *common])
        found = [json.loads(f.read_text()) for f in run.glob("eval-*.json")]
        for r in sorted(found, key=lambda r: (r["backend"] != "aer", r["noise"] or "",
                                              r["shots"] or 0)):
            rows.append({k: r[k] for k in ("model", "backend", "noise", "shots", "n_images",
                                           "accuracy", "exact_accuracy", "circuits", "pubs",
                                           "jobs", "wall_seconds")})
    print("\n| model | backend | noise | shots | images | accuracy | exact engine | circuits |"
          " PUBs | jobs | wall s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['backend']} | {r['noise'] or '-'} | {r['shots']} | "
              f"{r['n_images']} | {r['accuracy']:.4f} | {r['exact_accuracy']:.4f} | "
              f"{r['circuits']} | {r['pubs']} | {r['jobs']} | {r['wall_seconds']:.1f} |")
    return rows


def main() -> None:
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--what", choices=["speed", "accuracy", "all"], default="all")
    p.add_argument("--out", default="runs/bench_backends", help="folder for trained runs")
    p.add_argument("--images", type=int, default=256, help="images for the speed part")
    p.add_argument("--pl-images", type=int, default=16,
                   help="images for the pennylane-qiskit side (it is slow)")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"torch threads 1; {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    if args.what in ("speed", "all"):
        speed(args)
    if args.what in ("accuracy", "all"):
        accuracy(args)


if __name__ == "__main__":
    main()

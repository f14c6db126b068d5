"""Wall time of a bench: the local executor against ``--executor ray`` on the same machine.

For each config the same runs are timed with the local executor (torch's default threads, and
one thread per run) and with Ray (``--cpus-per-run 1``, one task per core): one untimed warm-up
of each, then 3 interleaved repeats, medians, each into a fresh output folder. Ray's start-up
(``ray.init``) is timed apart, and so is the first Ray bench (its workers' first imports of
torch/PennyLane: a cost every fresh Ray bench pays once). Besides wall time (the speed-up) the
table gives the CPU seconds the runs themselves used, summed over runs (the same work on both
sides, whichever process did it). Prints a markdown table and writes JSON.

    python experiments/bench_ray.py [--repeats 3] [--json runs/bench_ray.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from qclf.bench import load_bench, run_bench
from qclf.bench.executors import LocalExecutor, RayExecutor

HERE = Path(__file__).parent
CONFIGS = [HERE / "digits_smoke.yaml", HERE / "s1_grid_small.yaml"]


def _time_bench(cfg_path: Path, executor, root: Path, tag: str) -> tuple[float, float]:
    """(wall seconds of the bench, CPU seconds of its runs summed over runs)."""
    cfg = load_bench(cfg_path)
    out = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=root))
    t0 = time.perf_counter()
    statuses = run_bench(cfg, out, progress=False, executor=executor)
    wall = time.perf_counter() - t0
    bad = [s for s in statuses if s.status != "new"]
    if bad:
        raise RuntimeError(f"{tag}: unexpected statuses {[(s.label, s.status) for s in bad]}")
    return wall, sum(s.cpu_seconds for s in statuses)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    default_threads = torch.get_num_threads()
    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    print(f"# bench_ray  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, load before {_load()}")
    t0 = time.perf_counter()
    ray_exec = RayExecutor(cpus_per_run=1)
    startup = time.perf_counter() - t0
    results = []
    sides = {"local": lambda: LocalExecutor(), "local1": lambda: LocalExecutor(cpus_per_run=1),
             "ray": lambda: ray_exec}
    first_ray = None
    try:
        for cfg_path in CONFIGS:
            n_runs = len(load_bench(cfg_path).models) * len(load_bench(cfg_path).seeds)
            for name, make in sides.items():  # untimed warm-up of each side
                torch.set_num_threads(default_threads)
                wall, _ = _time_bench(cfg_path, make(), root, f"warm-{name}")
                if name == "ray" and first_ray is None:
                    first_ray = wall
            times: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
            for _ in range(args.repeats):  # interleaved
                for name, make in sides.items():
                    torch.set_num_threads(default_threads)
                    times[name].append(_time_bench(cfg_path, make(), root, name))
            med = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
            cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
            results.append({"config": cfg_path.name, "runs": n_runs, "times": times,
                            "median": med, "run_cpu_seconds": cpu})
    finally:
        ray_exec.shutdown()
    print(f"\nRay start-up (ray.init, {ray_exec.parallelism} workers of 1 CPU): {startup:.1f} s; "
          f"first Ray bench (cold workers, untimed warm-up): {first_ray:.1f} s; neither is in "
          f"the times below; load after {_load()}\n")
    print("| config | runs | local, torch default threads "
          f"({default_threads}) [s] | local, 1 thread [s] | ray, 1 CPU/run [s] "
          "| speed-up vs local default | vs local 1 thread | run CPU s: local 1 thread / ray |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        m, c = r["median"], r["run_cpu_seconds"]
        print(f"| {r['config']} | {r['runs']} | {m['local']:.1f} | {m['local1']:.1f} | "
              f"{m['ray']:.1f} | {m['local'] / m['ray']:.2f}x | {m['local1'] / m['ray']:.2f}x | "
              f"{c['local1']:.1f} / {c['ray']:.1f} |")
    print(f"\nmedian of {args.repeats} interleaved repeats after one warm-up of each side, wall "
          "clock, fresh output folder each")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"startup_s": startup, "results": results},
                                              indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

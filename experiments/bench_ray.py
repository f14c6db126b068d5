"""Wall time of a bench: the local executor against ``--executor ray`` on the same machine.

For each config the same runs are timed with the local executor (torch's default threads, and
one thread per run) and with Ray (``--cpus-per-run 1``, one task per core), interleaved, median
of 3 repeats, each into a fresh output folder. Ray's start-up (``ray.init``) is timed apart from
the bench; its workers' first imports of torch/PennyLane are inside the bench time (a real cost
of every Ray bench). Prints a markdown table and writes JSON.

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


def _time_bench(cfg_path: Path, executor, root: Path, tag: str) -> float:
    cfg = load_bench(cfg_path)
    out = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=root))
    t0 = time.perf_counter()
    statuses = run_bench(cfg, out, progress=False, executor=executor)
    wall = time.perf_counter() - t0
    bad = [s for s in statuses if s.status != "new"]
    if bad:
        raise RuntimeError(f"{tag}: unexpected statuses {[(s.label, s.status) for s in bad]}")
    return wall


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
    try:
        for cfg_path in CONFIGS:
            n_runs = len(load_bench(cfg_path).models) * len(load_bench(cfg_path).seeds)
            times: dict[str, list[float]] = {"local": [], "local1": [], "ray": []}
            for _ in range(args.repeats):  # interleaved
                torch.set_num_threads(default_threads)
                times["local"].append(_time_bench(cfg_path, LocalExecutor(), root, "local"))
                times["local1"].append(
                    _time_bench(cfg_path, LocalExecutor(cpus_per_run=1), root, "local1"))
                torch.set_num_threads(default_threads)
                times["ray"].append(_time_bench(cfg_path, ray_exec, root, "ray"))
            med = {k: statistics.median(v) for k, v in times.items()}
            results.append({"config": cfg_path.name, "runs": n_runs, "times": times,
                            "median": med})
    finally:
        ray_exec.shutdown()
    print(f"\nRay start-up (ray.init, {ray_exec.parallelism} workers of 1 CPU): {startup:.1f} s "
          f"(not in the bench times below); load after {_load()}\n")
    print("| config | runs | local, torch default threads "
          f"({default_threads}) [s] | local, 1 thread [s] | ray, 1 CPU/run [s] "
          "| speed-up vs local default | vs local 1 thread |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        m = r["median"]
        print(f"| {r['config']} | {r['runs']} | {m['local']:.1f} | {m['local1']:.1f} | "
              f"{m['ray']:.1f} | {m['local'] / m['ray']:.2f}x | {m['local1'] / m['ray']:.2f}x |")
    print(f"\nmedian of {args.repeats} interleaved repeats, wall clock, fresh output folder each")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"startup_s": startup, "results": results},
                                              indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

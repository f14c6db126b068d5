"""The benchmarks' one timing protocol: every side timed the same way, in turns.

A speed ratio is fair only when both sides are measured alike: the same warm-up (the caller's),
runs of the sides in turn within each round (a slow moment of this shared machine then hits
every side), the median over the rounds, and process-CPU time beside wall time (the figure a
busy neighbour disturbs least). ``bench_engine``, ``bench_step``, ``bench_batch1_floor``,
``bench_cutting`` and ``bench_backends`` time through here. (``bench_ray`` times whole bench
runs, whose CPU time is spent in worker processes, and keeps its own loop.)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and process-CPU seconds of one call of ``fn``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def calls_per_run(fn: Callable[[], object], run_s: float, at_least: int = 1,
                  at_most: int = 500) -> int:  # fmt: skip
    """How many calls of ``fn`` make a run of about ``run_s`` seconds (from one timed call,
    after the caller's warm-up): a single call of a millisecond is at the mercy of the timer."""
    _, cpu = timed(fn)
    return max(at_least, min(at_most, round(run_s / max(cpu, 1e-6))))


def interleaved(sides: dict[str, Callable[[], object]], rounds: int,
                calls: int | dict[str, int] = 1) -> dict[str, tuple[float, float]]:  # fmt: skip
    """Median wall and process-CPU seconds per call of each side: ``rounds`` rounds, in each
    of which every side in turn makes its ``calls`` calls (one number for all sides, or one
    per side). No warm-up here: the caller warms every side up first."""
    per_side = calls if isinstance(calls, dict) else dict.fromkeys(sides, calls)
    walls: dict[str, list[float]] = {k: [] for k in sides}
    cpus: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            n = per_side[name]
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            walls[name].append((time.perf_counter() - t0) / n)
            cpus[name].append((time.process_time() - c0) / n)
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k])) for k in sides}

"""One line per finished bench run, with an overall ETA: readable live and in a redirected log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from qclf.bench.runner import RunStatus
from qclf.results import METRICS, read_metrics


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class RunProgress:
    """Counts finished runs and prints ``[k/N] run: status ... | elapsed, ETA`` for each.

    The ETA divides the wall time so far by the runs that actually trained (skipped finished
    runs cost nothing) and multiplies by the runs left, so it already reflects how many runs
    execute at once.
    """

    def __init__(self, total: int, parallel: int = 1, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total, self.parallel, self.enabled = total, max(1, parallel), enabled
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.finished_runs = 0
        self.trained = 0

    def finished(self, st: RunStatus) -> None:
        self.finished_runs += 1
        if st.status != "done":
            self.trained += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        left = self.total - self.finished_runs
        detail = st.status
        if st.status == "failed":
            detail = f"FAILED ({st.error})"
        elif (st.path / METRICS).exists():
            detail += f", test acc {read_metrics(st.path)['test_accuracy']:.4f}"
        if st.status not in ("done", "failed"):
            detail += f", {st.seconds:.1f} s"
        eta = ("-" if not left else "?" if not self.trained
               else _duration(elapsed / self.trained * left))
        width = len(str(self.total))
        print(f"[{self.finished_runs:>{width}}/{self.total}] {st.dataset}/{st.label}/seed{st.seed}:"
              f" {detail} | elapsed {_duration(elapsed)}, ETA {eta}", file=self.stream,
              flush=True)

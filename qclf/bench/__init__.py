"""The comparison harness: experiment configs, multi-seed runs, summary tables and plots.

>>> cfg = load_bench("experiments/digits_smoke.yaml")
>>> run_bench(cfg, "runs/bench/digits_smoke")
>>> print(write_summary("runs/bench/digits_smoke"))

Names are imported on first use so that building the CLI parser (which imports
``qclf.bench.commands``) does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AttackSpec": "config", "BenchConfig": "config", "BenchConfigError": "config",
    "ModelSpec": "config", "check_compatible": "config", "load_bench": "config",
    "parse_bench": "config", "RunStatus": "runner", "read_bench": "runner",
    "run_bench": "runner", "run_dir": "runner", "summary_rows": "summary",
    "write_summary": "summary", "LocalExecutor": "executors", "RayExecutor": "executors",
    "plan_runs": "runner", "execute_run": "runner", "RunTask": "runner",
    "expand_models": "grid", "parse_grid": "grid",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"qclf.bench.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'qclf.bench' has no attribute {name!r}")

"""``qclf demo``: the first thing a new user runs.

Trains the HQNN-Parallel hybrid (S1) and its classical twin on scikit-learn's digits, which
ship with scikit-learn, so it works on a fresh machine with no data download and no GPU.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qclf.errors import option
from qclf.results import plot_comparison, write_csv, write_json

DEMO_MODELS = ("hqnn_parallel", "classical_parallel")
DEMO_EPOCHS = 15
DEMO_BATCH = 32
DEMO_LR = 5e-3


#: what the demo writes in its folder (the output policy refuses to replace any of them)
DEMO_OUTPUTS = ("comparison.csv", "comparison.json", "comparison.png", *DEMO_MODELS)


def run_demo(out: Path = Path("runs/demo"), epochs: int | None = None, seed: int = 0,
             progress: bool = True, overwrite: bool = False) -> list[dict[str, Any]]:
    """Train the demo's two models into ``out``; refuses an earlier demo there unless
    ``overwrite`` (which moves it to ``out/.previous-<timestamp>/``)."""
    from qclf.results.run_dir import prepare_run_dir
    from qclf.train import TrainConfig, fit

    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs < 1):
        raise ValueError(f"{option('epochs')} must be an integer >= 1, got {epochs!r}")
    out = prepare_run_dir(out, DEMO_OUTPUTS, overwrite=overwrite)
    rows, runs = [], []
    t_all = time.perf_counter()
    for name in DEMO_MODELS:
        cfg = TrainConfig(model=name, dataset="digits",
                          epochs=DEMO_EPOCHS if epochs is None else epochs,
                          batch_size=DEMO_BATCH, lr=DEMO_LR, seed=seed, device="cpu",
                          out=str(out / name), progress=progress)
        m = fit(cfg).metrics
        runs.append(m)
        rows.append({
            "model": name,
            "params_total": m["params"]["total"],
            "params_quantum": m["params"]["quantum"],
            "test_accuracy": round(m["test_accuracy"], 4),
            "seconds_per_epoch": round(m["seconds_per_epoch"], 2),
        })
    wall = time.perf_counter() - t_all
    write_csv(out / "comparison.csv", rows)
    write_json(out / "comparison.json", {"dataset": "digits", "seed": seed, "wall_seconds": wall,
                                         "rows": rows})
    plot_comparison(runs, out / "comparison.png", "qclf demo: digits, hybrid vs classical twin")
    print()
    print(f"{'model':<20} {'params':>7} {'quantum':>8} {'test acc':>9} {'s/epoch':>8}")
    for r in rows:
        print(f"{r['model']:<20} {r['params_total']:>7} {r['params_quantum']:>8} "
              f"{r['test_accuracy']:>9.4f} {r['seconds_per_epoch']:>8.2f}")
    print(f"\nwall time {wall:.0f} s; results in {out}/ (comparison.csv, comparison.png, "
          "<model>/metrics.json)")
    return rows

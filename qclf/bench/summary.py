"""The bench table and plots, rendered from the run folders alone (no training, no models).

One row per (data set, model): parameters, test accuracy mean ± sample std over seeds, best
epoch, seconds per epoch, peak memory, robust accuracy per attack, and for a hybrid whose
registered twin is in the same bench the paired difference hybrid − twin (same seed, so the
same split and data order: the fair comparison).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from qclf.bench.config import BenchConfig, ModelSpec
from qclf.bench.grid import point_label
from qclf.bench.runner import RUN_INFO, RunStatus, attack_path, read_bench, run_dir
from qclf.results import METRICS, read_metrics
from qclf.results.files import atomic_write_text, read_json, write_json

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
ACC_VS_PARAMS = "accuracy_vs_params.png"
ACC_VS_GRID = "accuracy_vs_grid.png"
FAILED_RUNS = "failed_runs.json"
LEARNING_CURVES = "learning_curves.png"


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


def _model_meta(name: str) -> dict[str, Any]:
    try:
        from qclf.models import model_info

        return model_info(name)
    except Exception:  # a model no longer registered still has its runs on disk
        return {}


def collect_runs(out: Path, cfg: BenchConfig) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Finished runs per (data set, label), in seed order: metrics, attacks, run info."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for dataset in cfg.datasets:
        for spec in cfg.models:
            found = []
            for seed in cfg.seeds:
                d = run_dir(out, dataset, spec.label, seed)
                if not (d / METRICS).exists():
                    continue
                m = read_metrics(d)
                attacks = {}
                for a in cfg.attack:
                    p = attack_path(d, a)
                    if p.exists():
                        attacks[a.key] = read_json(p)
                info = d / RUN_INFO
                run = read_json(info) if info.exists() else {}
                found.append({"seed": seed, "metrics": m, "attacks": attacks, "run": run})
            runs[(dataset, spec.label)] = found
    return runs


def _find_twin(spec: ModelSpec, cfg: BenchConfig) -> ModelSpec | None:
    twin = _model_meta(spec.name).get("twin")
    if not twin:
        return None
    candidates = [m for m in cfg.models if m.name == twin]
    # in a grid: the twin at the same point (same lr, ...), or one the point leaves alone
    candidates = [m for m in candidates
                  if all(m.point.get(k, v) == v for k, v in spec.point.items())] or candidates
    same_kw = [m for m in candidates if m.kw == spec.kw]
    return (same_kw or candidates or [None])[0]


def _paired(a: list[dict[str, Any]], b: list[dict[str, Any]], value) -> list[float]:
    bv = {r["seed"]: value(r) for r in b}
    out = []
    for r in a:
        x, y = value(r), bv.get(r["seed"])
        if x is not None and y is not None:
            out.append(x - y)
    return out


def summary_rows(out: Path, cfg: BenchConfig) -> list[dict[str, Any]]:
    runs = collect_runs(out, cfg)
    rows = []
    for dataset in cfg.datasets:
        for spec in cfg.models:
            rs = runs[(dataset, spec.label)]
            meta = _model_meta(spec.name)
            params = rs[0]["metrics"]["params"] if rs else {}
            acc = _mean_std([r["metrics"]["test_accuracy"] for r in rs])
            row: dict[str, Any] = {
                "dataset": dataset, "model": spec.label, "registry_name": spec.name,
                "grid_point": point_label(spec.point) if cfg.grid else "",
                "kind": meta.get("kind", ""),
                "params_total": params.get("total"), "params_quantum": params.get("quantum"),
                "n_seeds": len(rs), "seeds": " ".join(str(r["seed"]) for r in rs),
                "epochs": rs[0]["metrics"]["epochs"] if rs else None,
                "test_acc_mean": acc[0], "test_acc_std": acc[1],
                "best_epoch_mean": _mean_std([r["metrics"]["best_epoch"] for r in rs])[0],
                "seconds_per_epoch_mean": _mean_std(
                    [r["metrics"]["seconds_per_epoch"] for r in rs])[0],
                "peak_memory_mb_max": max((r["metrics"]["peak_memory_mb"] for r in rs),
                                          default=math.nan),
            }
            for a in cfg.attack:
                m, s = _mean_std([r["attacks"][a.key]["robust_accuracy"] for r in rs
                                  if a.key in r["attacks"]])
                row[f"{a.column}_mean"], row[f"{a.column}_std"] = m, s
            twin = _find_twin(spec, cfg)
            row["twin"] = twin.label if twin else ""
            tr = runs[(dataset, twin.label)] if twin else []
            d = _paired(rs, tr, lambda r: r["metrics"]["test_accuracy"])
            row["delta_vs_twin_mean"], row["delta_vs_twin_std"] = _mean_std(d)
            for a in cfg.attack:
                d = _paired(rs, tr, lambda r, k=a.key: r["attacks"].get(k, {}).get(
                    "robust_accuracy"))
                row[f"delta_{a.column}_vs_twin_mean"] = _mean_std(d)[0]
            rows.append(row)
    if cfg.grid:  # grouped by grid point; the point-free reference models first
        rows.sort(key=lambda r: (cfg.datasets.index(r["dataset"]), r["grid_point"] != "-",
                                 r["grid_point"]))
    return rows


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6f}"
    return v


def render_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_value(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def _pct(m: float, s: float | None = None) -> str:
    if m is None or math.isnan(m):
        return "–"
    if s is None or math.isnan(s):
        return f"{100 * m:.2f}"
    return f"{100 * m:.2f} ± {100 * s:.2f}"


def _num(v: float | None, fmt: str) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def markdown_table(rows: list[dict[str, Any]], cfg: BenchConfig) -> str:
    head = ["Data set", *(["Grid point"] if cfg.grid else []), "Model", "Kind",
            "Params (quantum)", "Test acc. %", "Δ vs twin (pp)"]
    head += [f"{a.method.upper()} ε={a.eps:g} %" for a in cfg.attack]
    head += ["Best epoch", "s/epoch", "Peak MB", "Seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        params = ("–" if r["params_total"] is None
                  else f"{r['params_total']:,} ({r['params_quantum']:,})")
        delta = (f"{_pct(r['delta_vs_twin_mean'], r['delta_vs_twin_std'])} vs {r['twin']}"
                 if r["twin"] and not math.isnan(r["delta_vs_twin_mean"]) else "")
        cells = [r["dataset"], *([r["grid_point"]] if cfg.grid else []), r["model"], r["kind"],
                 params,
                 _pct(r["test_acc_mean"], r["test_acc_std"]), delta]
        cells += [_pct(r[f"{a.column}_mean"], r[f"{a.column}_std"]) for a in cfg.attack]
        cells += [_num(r["best_epoch_mean"], ".1f"), _num(r["seconds_per_epoch_mean"], ".2f"),
                  _num(r["peak_memory_mb_max"], ".0f"), str(r["n_seeds"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _machines(out: Path, cfg: BenchConfig) -> list[str]:
    seen: list[str] = []
    for runs in collect_runs(out, cfg).values():
        for r in runs:
            m = r["run"].get("machine") or {"device": r["metrics"].get("device", "?")}
            text = ", ".join(f"{k} {v}" for k, v in m.items())
            if text not in seen:
                seen.append(text)
    return seen


def render_markdown(rows: list[dict[str, Any]], cfg: BenchConfig, out: Path) -> str:
    title = " — ".join(x for x in (cfg.system, cfg.title) if x) or "qclf bench"
    parts = [f"# {title}\n"]
    if cfg.paper:
        parts.append("Paper: " + "; ".join(f"{k}: {v}" for k, v in cfg.paper.items()) + "\n")
    if cfg.departures:
        parts.append(f"Departures from the paper: {cfg.departures}\n")
    if cfg.command:
        parts.append(f"Command: `{cfg.command}`\n")
    expected = len(cfg.datasets) * len(cfg.models) * len(cfg.seeds)
    done = sum(r["n_seeds"] for r in rows)
    if done < expected:
        parts.append(f"**Incomplete: {done} of {expected} runs finished.**\n")
    parts.append(markdown_table(rows, cfg))
    failures = read_failures(out)
    if failures:
        parts.append("## Failed runs\n\n" + "\n".join(
            f"- {f['run']}: {f['error']}" for f in failures) + "\n")
    parts.append(
        "Mean ± sample standard deviation (n−1) over seeds. Δ vs twin: mean ± std over seeds of "
        "the paired difference hybrid − twin (a seed fixes the split, initialisation and data "
        "order). Peak MB: CUDA max allocated on GPU; on CPU the process's peak resident memory "
        "during the run (interpreter and data included), maximum over seeds.\n")
    config = {k: v for k, v in cfg.to_dict().items() if k not in ("command", "departures")}
    parts.append("## Configuration\n\n```yaml\n"
                 + yaml.safe_dump(config, sort_keys=False, allow_unicode=True) + "```\n")
    machines = _machines(out, cfg)
    if machines:
        parts.append("## Machine\n\n" + "\n".join(f"- {m}" for m in machines) + "\n")
    return "\n".join(parts)


def plot_accuracy_vs_params(rows: list[dict[str, Any]], cfg: BenchConfig, path: Path) -> None:
    from qclf.results.plots import accuracy_floor, plt

    n = len(cfg.datasets)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4), squeeze=False)
    for ax, dataset in zip(axes[0], cfg.datasets, strict=True):
        for r in (r for r in rows if r["dataset"] == dataset and r["n_seeds"]):
            std = 0.0 if math.isnan(r["test_acc_std"]) else r["test_acc_std"]
            ax.errorbar(r["params_total"], r["test_acc_mean"], yerr=std, capsize=4,
                        fmt="o" if r["kind"] == "hybrid" else "s", label=r["model"])
            ax.annotate(r["model"], (r["params_total"], r["test_acc_mean"]), fontsize=8,
                        xytext=(5, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.margins(x=0.3)
        floor = accuracy_floor([r["test_acc_mean"] - (0 if math.isnan(r["test_acc_std"])
                                                      else r["test_acc_std"])
                                for r in rows if r["dataset"] == dataset and r["n_seeds"]])
        ax.set(xlabel="trainable parameters", ylabel="test accuracy", title=dataset,
               ylim=(floor, 1.005))
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"{cfg.system} test accuracy (mean ± std over seeds)".strip())
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_learning_curves(out: Path, cfg: BenchConfig, path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    from qclf.results.plots import plt

    runs = collect_runs(out, cfg)
    n = len(cfg.datasets)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4), squeeze=False)
    for ax, dataset in zip(axes[0], cfg.datasets, strict=True):
        for spec in cfg.models:
            hist = [[h["val_accuracy"] for h in r["metrics"]["history"]]
                    for r in runs[(dataset, spec.label)]]
            if not hist:
                continue
            k = min(map(len, hist))
            acc = np.asarray([h[:k] for h in hist])
            epochs = np.arange(1, k + 1)
            (line,) = ax.plot(epochs, acc.mean(0), "o-", ms=3,
                              label=f"{spec.label} (n={len(hist)})")
            ax.fill_between(epochs, acc.min(0), acc.max(0), alpha=0.2, color=line.get_color())
        ax.set(xlabel="epoch", ylabel="validation accuracy", title=dataset)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"{cfg.system} learning curves (mean, band: min–max over seeds)".strip())
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_summary(out: str | Path, cfg: BenchConfig | None = None) -> str:
    """Write summary.csv, summary.md and both plots in ``out``; return the markdown table."""
    out = Path(out)
    cfg = cfg or read_bench(out)
    rows = summary_rows(out, cfg)
    atomic_write_text(out / SUMMARY_CSV, render_csv(rows))
    atomic_write_text(out / SUMMARY_MD, render_markdown(rows, cfg, out))
    plot_accuracy_vs_params(rows, cfg, out / ACC_VS_PARAMS)
    plot_learning_curves(out, cfg, out / LEARNING_CURVES)
    if cfg.grid:
        plot_accuracy_vs_grid(rows, cfg, out / ACC_VS_GRID)
    return markdown_table(rows, cfg)


def write_failures(out: str | Path, statuses: Sequence[RunStatus]) -> list[RunStatus]:
    """Record this call's failed runs in ``OUT/failed_runs.json`` (removed when none failed)."""
    failed = [s for s in statuses if s.status == "failed"]
    path = Path(out) / FAILED_RUNS
    if failed:
        write_json(path, [{"run": f"{s.dataset}/{s.label}/seed{s.seed}", "error": s.error}
                          for s in failed])
    else:
        path.unlink(missing_ok=True)
    return failed


def read_failures(out: Path) -> list[dict[str, Any]]:
    path = Path(out) / FAILED_RUNS
    return read_json(path) if path.exists() else []


def plot_accuracy_vs_grid(rows: list[dict[str, Any]], cfg: BenchConfig, path: Path) -> None:
    """Test accuracy against each grid variable: one line per model (and other keys' values)."""
    from qclf.results.plots import plt

    specs = {s.label: s for s in cfg.models}
    keys = list(cfg.grid)
    fig, axes = plt.subplots(len(cfg.datasets), len(keys), squeeze=False,
                             figsize=(5.2 * len(keys), 4 * len(cfg.datasets)))
    for i, dataset in enumerate(cfg.datasets):
        drows = [r for r in rows if r["dataset"] == dataset and r["n_seeds"]]
        for j, key in enumerate(keys):
            ax = axes[i][j]
            lines: dict[str, list[tuple[Any, float, float]]] = {}
            for r in drows:
                spec = specs[r["model"]]
                if key not in spec.point:
                    ax.axhline(r["test_acc_mean"], ls="--", lw=1, color="gray")
                    ax.annotate(f"{spec.name} (no {key})", (0.01, r["test_acc_mean"]),
                                xycoords=("axes fraction", "data"), fontsize=7, color="gray")
                    continue
                rest = point_label({k: v for k, v in spec.point.items() if k != key})
                name = spec.name if rest == "-" else f"{spec.name} ({rest})"
                std = 0.0 if math.isnan(r["test_acc_std"]) else r["test_acc_std"]
                lines.setdefault(name, []).append((spec.point[key], r["test_acc_mean"], std))
            for name, pts in lines.items():
                pts.sort(key=lambda t: t[0])
                xs = list(range(len(pts)))
                ax.errorbar(xs, [p[1] for p in pts], yerr=[p[2] for p in pts], capsize=4,
                            marker="o", label=name)
                ax.set_xticks(xs, [f"{p[0]:g}" if isinstance(p[0], float) else str(p[0])
                                   for p in pts])
            ax.set(xlabel=key, ylabel="test accuracy", title=f"{dataset}: accuracy vs {key}")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.suptitle(f"{cfg.system} grid (mean ± std over seeds)".strip())
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

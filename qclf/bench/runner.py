"""Run a bench: every data set x seed x model through the shared loop, resumably.

Each run lives in ``OUT/<dataset>/<label>/seed<k>/`` and is exactly what ``qclf train`` writes
there (metrics.json, history.csv, checkpoint.pt, plots) plus ``run.json`` (wall time, machine)
and one ``attack_<method>_eps<eps>.json`` per attack. A run with metrics.json is finished and is
never trained again; one with only a checkpoint continues from it; a killed bench therefore
continues where it stopped when started again with the same command.

Fairness: the loop derives model initialisation and data order from the seed alone, so within a
seed every model sees the same split and the same batches. The harness only loads data (with the
same arguments the loop would use) and runs attacks with their own ``torch.Generator`` after
training, so nothing here moves the RNG streams a run depends on.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from qclf.bench.config import AttackSpec, BenchConfig, BenchConfigError, check_compatible
from qclf.results import METRICS, read_metrics, write_json
from qclf.results.files import read_json
from qclf.train import TrainConfig, fit
from qclf.train.loop import CHECKPOINT, resolve_device

if TYPE_CHECKING:
    from qclf.bench.executors import Executor

BENCH_FILE = "bench.json"
RUN_INFO = "run.json"


@dataclass
class RunStatus:
    dataset: str
    label: str
    seed: int
    path: Path
    status: str  # done (skipped) | new | resumed | extended | failed
    attacks: list[str]  # attack keys computed in this call
    error: str | None = None  # why a failed run failed
    seconds: float = 0.0  # wall time of this call for the run
    cpu_seconds: float = 0.0  # CPU time of the process that ran it, during the run


def run_dir(out: Path, dataset: str, label: str, seed: int) -> Path:
    return Path(out) / dataset / label / f"seed{seed}"


def attack_path(run: Path, spec: AttackSpec) -> Path:
    return run / f"attack_{spec.key}.json"


def read_bench(out: Path) -> BenchConfig:
    path = Path(out) / BENCH_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{out} holds no {BENCH_FILE}; it is not a `qclf bench` output "
                                "folder (run `qclf bench CONFIG --out DIR` first)")
    return BenchConfig.from_dict(read_json(path))


def machine_info(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _config_diff(saved: dict[str, Any], now: TrainConfig) -> list[str]:
    a = TrainConfig.from_dict(saved).fingerprint()
    b = now.fingerprint()
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


class _DataCache:
    """The three splits of one (data set, seed), loaded as ``fit`` would load them."""

    def __init__(self, cfg: BenchConfig) -> None:
        self.cfg = cfg
        self.key: tuple[str, int] | None = None
        self.data: dict[str, Any] | None = None

    def get(self, dataset: str, seed: int) -> dict[str, Any]:
        from qclf.data import load_dataset

        if self.key != (dataset, seed):
            self.data = None  # free the previous data set first
            cfg = self.cfg
            self.data = {split: load_dataset(dataset, split, data_dir=cfg.data_dir,
                                             limit=cfg.limit if split == "train"
                                             else cfg.eval_limit, seed=seed)
                         for split in ("train", "val", "test")}
            self.key = (dataset, seed)
        return self.data


def _load_trained(run: Path, tc: TrainConfig, data: dict[str, Any], device: torch.device):
    from qclf.models import create_model

    ckpt = run / CHECKPOINT
    if not ckpt.exists():
        raise FileNotFoundError(f"{run} has metrics.json but no {CHECKPOINT}: the trained weights "
                                "an attack needs are gone. Delete the run folder to retrain it.")
    info = data["train"].info
    model = create_model(tc.model, num_classes=info.num_classes,
                         input_shape=tuple(info.input_shape), **tc.model_kw)
    payload = torch.load(ckpt, map_location="cpu", weights_only=False)
    model.load_state_dict(payload["model"])
    return model.to(device).eval()


def _run_attack(model, data, spec: AttackSpec, seed: int, device: torch.device,
                path: Path) -> None:
    from qclf.attacks import robust_accuracy

    t0 = time.perf_counter()
    robust, clean = robust_accuracy(model, data["test"], spec.method, spec.eps, alpha=spec.alpha,
                                    steps=spec.steps, random_start=spec.random_start,
                                    limit=spec.limit, batch_size=spec.batch_size, seed=seed,
                                    device=device, return_clean=True)
    n = len(data["test"]) if spec.limit is None else min(spec.limit, len(data["test"]))
    write_json(path, {**spec.to_dict(), "seed": seed, "n": n, "robust_accuracy": robust,
                      "clean_accuracy": clean, "seconds": time.perf_counter() - t0})


def _attack_done(path: Path, spec: AttackSpec) -> bool:
    if not path.exists():
        return False
    saved = read_json(path)
    return all(saved.get(k) == v for k, v in spec.to_dict().items())


def prepare_out(cfg: BenchConfig, out: Path) -> None:
    """Check an existing OUT belongs to the same experiment, then record this bench's config."""
    out = Path(out)
    if (out / BENCH_FILE).exists():
        check_compatible(read_bench(out), cfg, out)
    elif out.exists() and any(out.iterdir()):
        raise BenchConfigError(f"{out} exists and is not a bench output folder (no {BENCH_FILE}); "
                               "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / BENCH_FILE, cfg.to_dict())


@dataclass
class RunTask:
    """One training run of a bench, self-contained and picklable (it can run in a worker)."""

    bench: dict[str, Any]  # BenchConfig.to_dict()
    dataset: str
    label: str
    seed: int
    path: str
    progress: bool = False

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.label}/seed{self.seed}"


def _status_on_disk(run: Path, tc: TrainConfig) -> str:
    """done | extended | resumed | new, checking that a run on disk is this run."""
    if (run / METRICS).exists():
        m = read_metrics(run)
        diff = _config_diff(m.get("config", {}), tc)
        if diff:
            raise BenchConfigError(f"{run} holds a run with a different configuration "
                                   f"({'; '.join(diff)}); use another --out")
        if int(m["epochs"]) == tc.epochs:
            return "done"
        if int(m["epochs"]) > tc.epochs:
            raise BenchConfigError(f"{run} was trained for {m['epochs']} epochs, more than "
                                   f"the {tc.epochs} asked for; use another --out")
        return "extended"
    return "resumed" if (run / CHECKPOINT).exists() else "new"


def plan_runs(cfg: BenchConfig, out: str | Path, progress: bool = False) -> list[RunTask]:
    """Every (data set, seed, model) run of ``cfg``, checked against what ``out`` holds.

    Raises before anything trains if a run folder holds a different experiment, so a bad
    ``--out`` costs nothing.
    """
    out = Path(out)
    bench = cfg.to_dict()
    tasks = []
    for dataset in cfg.datasets:
        for seed in cfg.seeds:
            for spec in cfg.models:
                run = run_dir(out, dataset, spec.label, seed)
                _status_on_disk(run, cfg.train_config(dataset, spec, seed, run))
                tasks.append(RunTask(bench, dataset, spec.label, seed, str(run), progress))
    return tasks


def execute_run(task: RunTask, data_cache: _DataCache | None = None,
                threads: int | None = None) -> RunStatus:
    """Train (or skip, resume, extend) one run and compute its attacks; never raises.

    The status is read from disk at the start, so a retried task (its worker died) resumes from
    the run's own last checkpoint, and a finished run is never trained again. A failure is
    returned as status ``failed`` with the error, so one bad run does not stop a bench.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    cfg = BenchConfig.from_dict(task.bench)
    run = Path(task.path)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        spec = cfg.model(task.label)
        tc = cfg.train_config(task.dataset, spec, task.seed, run, progress=task.progress)
        status = _status_on_disk(run, tc)
        device = resolve_device(cfg.device)
        cache = data_cache or _DataCache(cfg)
        model = None
        if status != "done":
            tc.resume = status in ("resumed", "extended")
            result = fit(tc, data=cache.get(task.dataset, task.seed))
            write_json(run / RUN_INFO, {"wall_seconds": time.perf_counter() - t0,
                                        "status": status, "machine": machine_info(device)})
            model = result.model
        done_attacks = []
        for a in cfg.attack:
            path = attack_path(run, a)
            if _attack_done(path, a):
                continue
            data = cache.get(task.dataset, task.seed)
            if model is None:
                model = _load_trained(run, tc, data, device)
            _run_attack(model, data, a, task.seed, device, path)
            done_attacks.append(a.key)
    except Exception as exc:  # reported in the summary; the other runs go on
        return RunStatus(task.dataset, task.label, task.seed, run, "failed", [],
                         error=f"{type(exc).__name__}: {exc}",
                         seconds=time.perf_counter() - t0,
                         cpu_seconds=time.process_time() - c0)
    return RunStatus(task.dataset, task.label, task.seed, run, status, done_attacks,
                     seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)


def run_bench(cfg: BenchConfig, out: str | Path, progress: bool = True,
              on_run: Callable[[RunStatus], None] | None = None,
              executor: Executor | None = None) -> list[RunStatus]:
    """Train (or skip, resume, extend) every run of ``cfg`` under ``out``; run its attacks.

    ``executor`` decides where runs execute (:class:`~qclf.bench.executors.LocalExecutor`, the
    default: one after another in this process; :class:`~qclf.bench.executors.RayExecutor`: as
    Ray tasks). Either way one line per finished run with an overall ETA is printed when
    ``progress`` is set, and failed runs come back with status ``failed``.
    """
    from qclf.bench.executors import LocalExecutor
    from qclf.bench.progress import RunProgress

    out = Path(out)
    prepare_out(cfg, out)
    executor = executor or LocalExecutor()
    # per-epoch bars only where runs execute one at a time in this process
    tasks = plan_runs(cfg, out, progress=progress and executor.shows_epoch_bars)
    reporter = RunProgress(len(tasks), parallel=executor.parallelism, enabled=progress)

    def done(st: RunStatus) -> None:
        reporter.finished(st)
        if on_run is not None:
            on_run(st)

    return executor.run(tasks, cfg, done)

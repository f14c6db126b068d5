"""Where a bench's runs execute: one after another here, or as Ray tasks on many cores/nodes.

Both executors take the same :class:`~qclf.bench.runner.RunTask` list and call back once per
finished run, so resuming, skipping finished runs and the summary are the same code for both.
Every run is :func:`~qclf.bench.runner.execute_run`, which reads the run's status from disk when
it starts: a task retried after its worker died resumes from its own last checkpoint, and a
rerun driver skips every finished run.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from qclf.bench.config import BenchConfig, BenchConfigError
from qclf.bench.runner import RunStatus, RunTask, _DataCache, execute_run

OnDone = Callable[[RunStatus], None]
STORAGES = ("shared", "driver")


class Executor(Protocol):
    """Runs bench tasks and reports each finished one."""

    parallelism: int  # runs executing at once (for the ETA)
    shows_epoch_bars: bool  # whether runs may draw per-epoch progress bars

    def run(self, tasks: Sequence[RunTask], cfg: BenchConfig,
            on_done: OnDone) -> list[RunStatus]: ...


class LocalExecutor:
    """Runs in this process, in order, sharing loaded data between consecutive runs."""

    parallelism = 1
    shows_epoch_bars = True

    def __init__(self, cpus_per_run: int | None = None) -> None:
        self.cpus_per_run = cpus_per_run  # None: torch's default thread count

    def run(self, tasks: Sequence[RunTask], cfg: BenchConfig,
            on_done: OnDone) -> list[RunStatus]:
        cache = _DataCache(cfg)
        statuses = []
        for task in tasks:
            st = execute_run(task, cache, threads=self.cpus_per_run)
            statuses.append(st)
            on_done(st)
        return statuses


def _read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    """Write each file atomically (a killed driver never leaves a half-written result)."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)


def _ray_task(task: RunTask, threads: int, files: dict[str, bytes] | None
              ) -> tuple[RunStatus, dict[str, bytes] | None]:
    """The body of one Ray task (runs in a worker process).

    With ``files`` (driver storage: the worker may not see the driver's disk) the run folder's
    current content is unpacked into a private temporary folder, the run executes there (so it
    still resumes from a checkpoint the driver holds), and the folder comes back as bytes.
    """
    pid_file = Path(task.path).parent / f".worker-{Path(task.path).name}.pid"
    if files is None:
        Path(task.path).mkdir(parents=True, exist_ok=True)
        pid_file.write_text(str(os.getpid()), encoding="utf-8")  # lets tests kill the worker
        try:
            return execute_run(task, threads=threads), None
        finally:
            pid_file.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="qclf-run-") as tmp:
        local = Path(tmp) / "run"
        _write_tree(local, files)
        local.mkdir(parents=True, exist_ok=True)
        real = task.path
        task.path = str(local)
        st = execute_run(task, threads=threads)
        task.path, st.path = real, Path(real)
        return st, _read_tree(local)


class RayExecutor:
    """Runs every (data set, model, seed, grid point) as one Ray task.

    Args:
        address: ``None`` starts an embedded local Ray on this machine's cores; ``"auto"`` or
            ``"ray://HOST:PORT"`` joins an existing cluster (qclf must be installed on its
            workers, in the same version).
        cpus_per_run: CPUs reserved per task; torch inside the task uses exactly this many
            threads (too many threads per run on a loaded machine slow small circuits ~10x).
        gpus_per_run: GPUs (fractions allowed) reserved per task; runs then use ``cuda``.
        storage: ``"shared"`` (workers write run folders directly: one machine, or a cluster
            with a shared filesystem) or ``"driver"`` (workers send each finished run folder
            back and the driver writes it; a worker's partial checkpoint is lost with it).
        max_retries: how often Ray reruns a task whose worker process died; each retry resumes
            from the run's last checkpoint.
    """

    shows_epoch_bars = False

    def __init__(self, address: str | None = None, cpus_per_run: int = 1,
                 gpus_per_run: float = 0.0, storage: str = "shared", max_retries: int = 3,
                 num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise BenchConfigError("--executor ray needs Ray: pip install 'qclf[ray]'"
                                   ) from None
        if cpus_per_run < 1:
            raise BenchConfigError(f"--cpus-per-run must be >= 1, got {cpus_per_run}")
        if gpus_per_run < 0:
            raise BenchConfigError(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
        if storage not in STORAGES:
            raise BenchConfigError(f"--storage must be one of {STORAGES}, got {storage!r}")
        self.ray = ray
        self.cpus_per_run, self.gpus_per_run = cpus_per_run, gpus_per_run
        self.storage, self.max_retries = storage, max_retries
        t0 = time.perf_counter()
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kwargs = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                kwargs["num_cpus"] = num_cpus or os.cpu_count()
            ray.init(address=address, **kwargs)
        self.startup_seconds = time.perf_counter() - t0
        total = ray.cluster_resources().get("CPU", 1)
        if cpus_per_run > total:
            raise BenchConfigError(f"--cpus-per-run {cpus_per_run} is more than the "
                                   f"{total:g} CPUs Ray sees")
        self.parallelism = max(1, math.floor(total / cpus_per_run))

    def run(self, tasks: Sequence[RunTask], cfg: BenchConfig,
            on_done: OnDone) -> list[RunStatus]:
        ray = self.ray
        remote = ray.remote(_ray_task).options(
            num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
            max_retries=self.max_retries, retry_exceptions=False)
        pending = {}
        for task in tasks:
            files = None
            if self.storage == "driver":
                run = Path(task.path)
                files = _read_tree(run) if run.is_dir() else {}
            pending[remote.remote(task, self.cpus_per_run, files)] = task
        statuses = []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                task = pending.pop(ref)
                try:
                    st, files = ray.get(ref)
                    if files is not None:
                        _write_tree(Path(task.path), files)
                except Exception as exc:  # the worker died more often than max_retries
                    st = RunStatus(task.dataset, task.label, task.seed, Path(task.path),
                                   "failed", [], error=f"{type(exc).__name__}: {exc}"[:500])
                statuses.append(st)
                on_done(st)
        return statuses

    def shutdown(self) -> None:
        """Stop the embedded Ray this executor started (a joined cluster is left running)."""
        if self.started_here and self.ray.is_initialized():
            self.ray.shutdown()

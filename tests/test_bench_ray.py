"""``qclf bench --executor ray``: same numbers as the local executor, and fault tolerance.

A local Ray with 2 CPUs is started once for the module. The local executor and Ray run the same
small digits bench with one torch thread per run, so every run is bit-identical; a worker
SIGKILLed mid-run is retried by Ray and resumes from that run's checkpoint; a driver SIGKILLed
and rerun with the same command trains none of the runs that had finished.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")

from qclf.bench import parse_bench, run_bench, summary_rows  # noqa: E402
from qclf.bench.executors import LocalExecutor, RayExecutor  # noqa: E402
from qclf.results import read_metrics  # noqa: E402

BENCH = {
    "system": "ray-test",
    "datasets": ["digits"],
    "models": [{"name": "hqnn_parallel"}, {"name": "classical_parallel"}],
    "train": {"epochs": 3, "batch_size": 32, "lr": 5.0e-3},
    "seeds": [0, 1],
    "limit": 300,
    "eval_limit": 150,
}
KEYS = ("test_accuracy", "test_loss", "best_epoch", "epochs")


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    threads = __import__("torch").get_num_threads()
    try:
        run_bench(parse_bench(BENCH), out, progress=False,
                  executor=LocalExecutor(cpus_per_run=1))
    finally:
        __import__("torch").set_num_threads(threads)
    return out


def _numbers(out: Path) -> list[tuple]:
    cfg = parse_bench(BENCH)
    rows = summary_rows(out, cfg)
    return [(r["model"], r["n_seeds"], r["params_total"], r["test_acc_mean"], r["test_acc_std"],
             r["delta_vs_twin_mean"]) for r in rows]


def _run_metrics(out: Path, label: str, seed: int) -> dict:
    m = read_metrics(out / "digits" / label / f"seed{seed}")
    hist = [(h["train_loss"], h["val_accuracy"]) for h in m["history"]]
    return {**{k: m[k] for k in KEYS}, "history": hist}


def test_ray_summary_equals_local(ray_local, local_out, tmp_path):
    out = tmp_path / "ray"
    statuses = run_bench(parse_bench(BENCH), out, progress=False,
                         executor=RayExecutor(cpus_per_run=1))
    assert sorted(s.status for s in statuses) == ["new"] * 4
    assert _numbers(out) == _numbers(local_out)
    for label in ("hqnn_parallel", "classical_parallel"):
        for seed in (0, 1):
            assert _run_metrics(out, label, seed) == _run_metrics(local_out, label, seed)


def test_killed_worker_resumes_from_its_checkpoint(ray_local, local_out, tmp_path):
    out = tmp_path / "ray_kill"
    run = out / "digits" / "hqnn_parallel" / "seed0"
    pid_file = run.parent / f".worker-{run.name}.pid"
    killed: list[int] = []

    def killer() -> None:  # SIGKILL the worker once the run's first epoch is checkpointed
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            if (run / "checkpoint.pt").exists() and pid_file.exists():
                pid = int(pid_file.read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    statuses = run_bench(parse_bench(BENCH), out, progress=False,
                         executor=RayExecutor(cpus_per_run=1))
    thread.join(timeout=5)
    assert killed, "the worker was never killed"
    assert all(s.status != "failed" for s in statuses), [s.error for s in statuses]
    assert len(statuses) == 4
    info = yaml.safe_load((run / "run.json").read_text())
    assert info["status"] == "resumed"  # the retry continued from the checkpoint
    assert _numbers(out) == _numbers(local_out)
    assert _run_metrics(out, "hqnn_parallel", 0) == _run_metrics(local_out, "hqnn_parallel", 0)


def _driver(config: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "qclf.cli", "bench", str(config), "--out", str(out),
         "--executor", "ray", "--cpus-per-run", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_rerun_driver_after_kill_redoes_no_finished_run(tmp_path):
    config = tmp_path / "bench.yaml"
    config.write_text(yaml.safe_dump({**BENCH, "seeds": [0, 1, 2]}), encoding="utf-8")
    out = tmp_path / "out"
    first = _driver(config, out)
    deadline = time.time() + 300
    while (time.time() < deadline and first.poll() is None
           and len(list(out.glob("digits/*/seed*/metrics.json"))) < 2):
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    finished = {p: p.stat().st_mtime_ns for p in out.glob("digits/*/seed*/metrics.json")}
    assert 2 <= len(finished) < 6, "the driver was not killed mid-bench"

    second = _driver(config, out)
    stdout, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    for path, mtime in finished.items():  # finished runs were not trained again
        assert path.stat().st_mtime_ns == mtime
        assert f"{path.parent.parent.name}/{path.parent.name}: done" in err
    assert len(list(out.glob("digits/*/seed*/metrics.json"))) == 6
    assert err.count("] digits/") == 6  # one progress line per run, none counted twice
    assert "| hqnn_parallel | hybrid |" in stdout and "| 3 |" in stdout


def test_driver_storage_returns_run_folders_to_the_driver(ray_local, local_out, tmp_path):
    """Workers without a shared filesystem: each run executes in a private folder and its
    files come back to the driver, which writes them; the numbers are the same."""
    out = tmp_path / "driver"
    statuses = run_bench(parse_bench(BENCH), out, progress=False,
                         executor=RayExecutor(cpus_per_run=1, storage="driver"))
    assert sorted(s.status for s in statuses) == ["new"] * 4
    assert _numbers(out) == _numbers(local_out)
    run = out / "digits" / "hqnn_parallel" / "seed1"
    assert {p.name for p in run.iterdir()} >= {"metrics.json", "history.csv", "checkpoint.pt",
                                                "run.json"}
    assert _run_metrics(out, "hqnn_parallel", 1) == _run_metrics(local_out, "hqnn_parallel", 1)

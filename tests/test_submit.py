"""qclf evaluate / submit / jobs end to end on a small trained S1 model (Aer and fake devices).

Covers: accuracy with many shots vs the exact engine, device noise end to end, dry run,
manifest contents, kill + resume (every image once, same accuracy as an uninterrupted run),
a job that fails on the server kept as failed and resubmitted, and that a token in the
environment ends up in no file and no log.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("qiskit_aer")
pytest.importorskip("qiskit_ibm_runtime")

from qclf.backends import BackendError  # noqa: E402
from qclf.backends.runtime import RuntimeBackend  # noqa: E402
from qclf.backends.submission import EXIT_AFTER_ENV  # noqa: E402
from qclf.cli import main  # noqa: E402

TOKEN = "qclf-fake-token-7d1f0c-never-write-me"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "s1"
    rc = main(["train", "--model", "hqnn_parallel", "--dataset", "digits", "--epochs", "6",
               "--limit", "300", "--lr", "0.01", "--batch-size", "32", "--eval-limit", "60",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    return out


def _copy(run_dir: Path, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    dst.mkdir()
    for f in ("checkpoint.pt", "metrics.json"):
        shutil.copy(run_dir / f, dst / f)
    return dst


def _eval(path: Path, name: str) -> dict:
    return json.loads((path / name).read_text())


def test_aer_with_many_shots_matches_exact_accuracy(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--backend", "aer", "--shots", "4096",
                 "--no-progress"]) == 0
    r = _eval(run_dir, "eval-aer-4096.json")
    assert r["exact_accuracy"] > 0.7  # the model learnt
    n = r["n_images"]
    # at 4096 shots the circuits' outputs move by ~1e-2: nearly every prediction agrees
    assert abs(r["accuracy"] - r["exact_accuracy"]) <= 3 / n
    assert r["agreement_with_exact"] >= 1 - 3 / n
    assert r["circuits"] == 4 * n and r["jobs"] == r["pubs"] == 1  # 60 images, one chunk
    assert r["total_shots"] == 4096 * 4 * n
    assert "accuracy" in capsys.readouterr().out


def test_sweep_and_device_noise_end_to_end(run_dir):
    assert main(["evaluate", str(run_dir), "--backend", "aer", "--noise", "fake_manila",
                 "--sweep-shots", "64,1024", "--limit", "30", "--no-progress"]) == 0
    for shots in (64, 1024):
        r = _eval(run_dir, f"eval-aer-fake_manila-{shots}.json")
        assert r["noise"] == "fake_manila" and r["n_images"] == 30 and r["shots"] == shots
        assert 0 <= r["accuracy"] <= 1
    assert (run_dir / "accuracy_vs_shots-aer-fake_manila.png").stat().st_size > 1000


def test_fake_device_evaluate_and_dry_run(run_dir, capsys):
    assert main(["submit", str(run_dir), "--backend", "fake:fake_manila", "--shots", "128",
                 "--limit", "20", "--chunk-size", "10", "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = json.loads(out[: out.rindex("}") + 1])
    assert (plan["circuits"], plan["pubs"], plan["jobs"]) == (80, 2, 2)
    assert plan["total_shots"] == 80 * 128
    assert plan["circuit_shapes"][0]["two_qubit_gates"] > 0
    assert plan["estimated_qpu_seconds"] > 0
    assert not (run_dir / "jobs").exists()  # nothing submitted
    assert main(["evaluate", str(run_dir), "--backend", "fake:fake_manila", "--shots", "128",
                 "--limit", "20", "--chunk-size", "10", "--no-progress"]) == 0
    r = _eval(run_dir, "eval-fake_fake_manila-128.json")
    assert (r["circuits"], r["pubs"], r["jobs"], len(r["job_ids"])) == (80, 2, 2, 2)
    assert r["options"]["optimization_level"] == 1 and r["n_images"] == 20


def test_kill_then_resume_equals_uninterrupted(run_dir, tmp_path):
    args = ["--backend", "fake:fake_manila", "--shots", "128", "--limit", "40",
            "--chunk-size", "10", "--seed", "5", "--no-progress"]
    whole = _copy(run_dir, tmp_path, "whole")
    assert main(["submit", str(whole), *args]) == 0
    killed = _copy(run_dir, tmp_path, "killed")
    env = {**os.environ, EXIT_AFTER_ENV: "2"}
    proc = subprocess.run([sys.executable, "-m", "qclf.cli", "submit", str(killed), *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 17, proc.stderr
    (manifest,) = (killed / "jobs").glob("*.json")
    before = json.loads(manifest.read_text())
    ids = [j["job_id"] for c in before["chunks"] for j in c["jobs"]]
    assert len(ids) == 2 and before["status"] == "submitting"
    assert not list(killed.glob("eval-*.json"))

    assert main(["jobs", str(killed), "--resume", "--no-progress"]) == 0
    after = json.loads(manifest.read_text())
    a = _eval(killed, "eval-fake_fake_manila-128.json")
    b = _eval(whole, "eval-fake_fake_manila-128.json")
    assert a["predictions"] == b["predictions"] and a["accuracy"] == b["accuracy"]
    # every image in exactly one chunk, each chunk evaluated once from one finished job
    covered = [i for c in after["chunks"] for i in range(*c["images"])]
    assert covered == list(range(40))
    done = [j for c in after["chunks"] for j in c["jobs"] if j["status"] == "done"]
    assert len(done) == 4 and a["jobs"] == 4 and a["circuits"] == 4 * 40
    # the two jobs of the killed local run were lost (a local fake job is not kept) and resubmitted
    lost = [j for c in after["chunks"] for j in c["jobs"] if j["status"] == "lost"]
    assert sorted(j["job_id"] for j in lost) == sorted(ids)
    assert after["status"] == "done"


def test_failed_job_is_kept_and_resubmitted(run_dir, tmp_path, monkeypatch, capsys):
    path = _copy(run_dir, tmp_path, "failing")
    real = RuntimeBackend.collect
    calls = {"n": 0}

    def flaky(job):
        calls["n"] += 1
        if calls["n"] == 1:
            raise BackendError(f"job {job.job_id()} failed on the server: simulated")
        return real(job)

    monkeypatch.setattr(RuntimeBackend, "collect", staticmethod(flaky))
    args = ["--backend", "fake:fake_manila", "--shots", "64", "--limit", "20",
            "--chunk-size", "10", "--no-progress"]
    assert main(["submit", str(path), *args]) == 2
    assert "failed on the server" in capsys.readouterr().err
    (manifest,) = (path / "jobs").glob("*.json")
    assert [j["status"] for c in json.loads(manifest.read_text())["chunks"]
            for j in c["jobs"]] == ["failed", "done"]
    assert main(["jobs", str(path)]) == 0
    assert "1 done, 1 failed" in capsys.readouterr().out
    assert main(["jobs", str(path), "--resume", "--no-progress"]) == 0
    statuses = [j["status"] for c in json.loads(manifest.read_text())["chunks"]
                for j in c["jobs"]]
    assert statuses.count("done") == 2 and statuses.count("failed") == 1
    assert _eval(path, "eval-fake_fake_manila-64.json")["n_images"] == 20


def test_token_never_written_or_logged(run_dir, tmp_path, monkeypatch, capsys, caplog):
    path = _copy(run_dir, tmp_path, "secret")
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:v1:fake-instance")
    caplog.set_level(logging.DEBUG)
    assert main(["submit", str(path), "--backend", "fake:fake_manila", "--shots", "32",
                 "--limit", "10", "--no-progress"]) == 0
    assert main(["evaluate", str(path), "--backend", "ibm:ibm_fake", "--shots", "32",
                 "--limit", "10", "--no-progress"]) == 2  # no service reachable: one clear line
    captured = capsys.readouterr()
    assert "qclf: error: no usable IBM Quantum credentials" in captured.err
    assert TOKEN not in captured.out + captured.err + caplog.text
    for f in path.rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f


def test_jobs_without_manifest_is_a_clear_error(run_dir, tmp_path, capsys):
    path = _copy(run_dir, tmp_path, "empty")
    assert main(["jobs", str(path)]) == 2
    assert "no manifest" in capsys.readouterr().err
    assert main(["submit", str(path), "--backend", "aer", "--limit", "5"]) == 2
    assert "fake:<name> or ibm:<name>" in capsys.readouterr().err

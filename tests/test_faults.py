"""Fault injection through the real CLI: every mistake gets one line naming the flag or file,
the right exit code, and every file that existed before is byte-for-byte unchanged.

One small finished run (classical twin on digits, 2 epochs) is trained once for the module and
copied into each test that needs a run folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from qclf.results.run_dir import OutputDirError
from qclf.train import TrainConfig, fit

MODEL = ["--model", "classical_parallel", "--dataset", "digits"]
SMALL = ["--limit", "200", "--eval-limit", "100", "--batch-size", "32"]


def qclf(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "qclf.cli", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one error line (device/progress lines before it are allowed)."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("qclf: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fault") / "run"
    p = qclf("train", *MODEL, *SMALL, "--epochs", "2", "--out", str(out), "--no-progress")
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(finished_run, dest)
    return dest


def test_results_without_checkpoint_are_not_replaced(run_copy: Path):
    (run_copy / "checkpoint.pt").unlink()
    before = snapshot(run_copy)
    p = qclf("train", *MODEL, *SMALL, "--epochs", "1", "--out", str(run_copy), "--no-progress")
    assert p.returncode == 2
    line = error_line(p)
    assert "already holds results" in line and "--overwrite" in line and "--resume" in line
    assert snapshot(run_copy) == before


def test_users_own_metrics_file_is_not_replaced(tmp_path: Path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.json").write_text('{"mine": true}')
    before = snapshot(out)
    p = qclf("train", *MODEL, *SMALL, "--epochs", "1", "--out", str(out), "--no-progress")
    assert p.returncode == 2 and "metrics.json" in error_line(p)
    assert snapshot(out) == before


def test_overwrite_moves_old_results_aside(run_copy: Path):
    before = snapshot(run_copy)
    p = qclf("train", *MODEL, *SMALL, "--epochs", "1", "--out", str(run_copy), "--overwrite",
             "--no-progress")
    assert p.returncode == 0, p.stderr
    previous = [d for d in run_copy.iterdir() if d.name.startswith(".previous-")]
    assert len(previous) == 1
    assert snapshot(previous[0]) == before  # every old file, unchanged, in one place
    assert (run_copy / "metrics.json").exists()


def test_demo_refuses_an_earlier_demo(tmp_path: Path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "comparison.csv").write_text("model,test_accuracy\nhqnn_parallel,1.0\n")
    before = snapshot(out)
    p = qclf("demo", "--out", str(out), "--epochs", "1", "--no-progress")
    assert p.returncode == 2
    assert "comparison.csv" in error_line(p) and "--overwrite" in error_line(p)
    assert snapshot(out) == before


def test_out_is_a_file(tmp_path: Path):
    target = tmp_path / "results.txt"
    target.write_text("precious")
    p = qclf("train", *MODEL, *SMALL, "--epochs", "1", "--out", str(target))
    assert p.returncode == 2
    assert "--out" in error_line(p) and "is a file" in error_line(p)
    assert "epoch 1" not in p.stderr  # refused before training
    assert target.read_text() == "precious"


def test_resume_cannot_shorten_a_finished_run(run_copy: Path):
    before = snapshot(run_copy)
    p = qclf("train", *MODEL, *SMALL, "--epochs", "1", "--out", str(run_copy), "--resume",
             "--no-progress")
    assert p.returncode == 2
    line = error_line(p)
    assert "already trained for 2 epochs" in line and "--epochs" in line
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("args, flag, value", [
    (["demo", "--epochs", "0"], "--epochs", "0"),
    (["train", *MODEL, "--seed", "-1"], "--seed", "-1"),
    (["train", *MODEL, "--eval-limit", "0"], "--eval-limit", "0"),
    (["train", *MODEL, "--lr", "-3"], "--lr", "-3"),
    (["train", *MODEL, "--batch-size", "two"], "--batch-size", "'two'"),
    (["bench", "experiments/digits_smoke.yaml", "--limit", "0"], "--limit", "0"),
    (["evaluate", "runs/none", "--shots", "0"], "--shots", "0"),
    (["submit", "runs/none", "--backend", "fake:fake_manila", "--limit", "-2"], "--limit", "-2"),
])
def test_bad_values_name_the_flag(args, flag, value, tmp_path: Path):
    out = ["--out", str(tmp_path / "o")] if args[0] in ("train", "demo", "bench") else []
    p = qclf(*args, *out)
    assert p.returncode == 2
    line = error_line(p)
    assert f"argument {flag}:" in line and value in line and "--help" in line
    assert not (tmp_path / "o").exists()


def test_missing_cuda_device_is_named(tmp_path: Path):
    import torch

    if torch.cuda.device_count() > 3:
        pytest.skip("this machine has a cuda:3")
    p = qclf("train", *MODEL, *SMALL, "--device", "cuda:3", "--out", str(tmp_path / "o"))
    assert p.returncode == 2
    assert "--device cuda:3" in error_line(p)
    assert not (tmp_path / "o").exists()


def test_suspicious_choices_warn(tmp_path: Path):
    p = qclf("train", *MODEL, "--limit", "5", "--epochs", "1", "--lr", "2",
             "--out", str(tmp_path / "o"), "--no-progress")
    warnings = [ln for ln in p.stderr.splitlines() if ln.startswith("qclf: warning:")]
    assert any("--lr 2 is above 1" in w for w in warnings), p.stderr
    assert any("only 5 training images (--limit 5) for 10 classes" in w for w in warnings)


def test_subset_without_some_classes_warns():
    from qclf.errors import QclfWarning
    from qclf.train.loop import _check_subset

    cfg = TrainConfig(limit=30)
    labels = [0, 1, 1, 2] * 8  # 32 images of 3 of 4 classes
    with pytest.warns(QclfWarning, match=r"subset \(limit 30\) has images of 3 of 4 classes"):
        _check_subset(cfg, _Sized(labels), 4)


class _Sized:
    def __init__(self, labels):
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)


def _default_sigint() -> None:
    """In the child: Ctrl-C as in a terminal. A test runner started in the background by a
    shell without job control (``cmd &`` in a script) ignores SIGINT, its children inherit
    that, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_before_the_first_epoch_says_nothing_was_saved(tmp_path: Path):
    out = tmp_path / "o"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "qclf.cli", "train", "--model",
                             "hqnn_parallel", "--dataset", "digits", "--epochs", "3",
                             "--out", str(out)],
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)  # fmt: skip
    for line in proc.stderr:  # wait until training is under way (the device line)
        if line.startswith("qclf: hqnn_parallel on digits"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "no epoch had finished, so nothing was saved" in err, err[-2000:]
    assert not (out / "checkpoint.pt").exists()


def test_bench_yaml_type_error_names_the_field(tmp_path: Path):
    config = tmp_path / "b.yaml"
    config.write_text("datasets: [digits]\nmodels: [classical_parallel]\ntrain: {epochs: two}\n")
    p = qclf("bench", str(config), "--out", str(tmp_path / "o"))
    assert p.returncode == 2
    assert "train.epochs must be an integer >= 1, got 'two'" in error_line(p)


def test_report_names_a_corrupt_file(tmp_path: Path):
    out = tmp_path / "bench"
    p = qclf("bench", "experiments/digits_smoke.yaml", "--out", str(out), "--seeds", "0",
             "--epochs", "1", "--limit", "100", "--eval-limit", "50", "--no-progress")
    assert p.returncode == 0, p.stderr
    metrics = out / "digits" / "classical_parallel" / "seed0" / "metrics.json"
    metrics.write_text('{"test_accuracy": 0.9')  # cut off
    before = snapshot(out)
    p = qclf("report", str(out))
    assert p.returncode == 2
    assert str(metrics) in error_line(p) and "not valid JSON" in error_line(p)
    assert snapshot(out) == before


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path: Path):
    p = qclf("train", "--model", "no_such_model", "--out", str(tmp_path / "o"), "--debug")
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_python_api_errors_speak_python(finished_run: Path, tmp_path: Path):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    with pytest.raises(OutputDirError) as e:
        fit(TrainConfig(model="classical_parallel", epochs=1, out=str(out), progress=False))
    msg = str(e.value)
    assert "resume=True" in msg and "overwrite=True" in msg and "--" not in msg
    with pytest.raises(ValueError, match=r"^seed must be an integer >= 0, got -1$"):
        TrainConfig(seed=-1)


def test_list_finds_substrings_and_help_shows_defaults():
    p = qclf("list", "models", "hqnn")
    assert p.returncode == 0 and "hqnn_parallel" in p.stdout and "hqnn_quanv" in p.stdout
    p = qclf("train", "--help")
    assert "(default: 10)" in p.stdout and "--download" in p.stdout
    assert "(default: auto)" in p.stdout


def test_dataset_recorded_under_its_listed_name(tmp_path: Path):
    p = qclf("train", "--model", "classical_parallel", "--dataset", "Digits", *SMALL,
             "--epochs", "1", "--out", str(tmp_path / "o"), "--no-progress")
    assert p.returncode == 0, p.stderr
    import json

    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["dataset"] == "digits"


def test_result_files_get_the_umask_mode(finished_run: Path):
    mask = os.umask(0)
    os.umask(mask)
    for name in ("metrics.json", "history.csv", "checkpoint.pt", "learning_curves.png"):
        assert (finished_run / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_redirected_progress_is_one_line_per_epoch(tmp_path: Path):
    p = qclf("train", *MODEL, *SMALL, "--epochs", "2", "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stderr  # no bar redraws in a log
    epochs = [ln for ln in p.stderr.splitlines() if "epoch" in ln and "ETA" in ln]
    assert len(epochs) == 2, p.stderr


def test_wheel_installs_no_top_level_circuits(tmp_path: Path):
    root = Path(__file__).parents[1]
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path), str(root)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("qclf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"qclf", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert "qclf/circuits/__init__.py" in names and "qclf/circuits/qcnn.py" in names

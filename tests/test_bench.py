"""The harness: configs validated at load, a killed bench resumes without redoing finished runs,
the summary agrees with the per-seed results, ``qclf report`` reproduces it, attacks add columns.

One small bench (digits, 200 training images, 1 epoch, hqnn_parallel + classical_parallel, two
seeds) is run once for the module, killed after its first run and resumed; the other tests read
its output or copy it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from qclf.bench import BenchConfigError, load_bench, parse_bench
from qclf.cli import main
from qclf.registry import UnknownNameError

MODELS = ("hqnn_parallel", "classical_parallel")
SEEDS = (0, 1)
BENCH = {
    "system": "test",
    "title": "harness test",
    "datasets": ["digits"],
    "models": [{"name": "hqnn_parallel"}, {"name": "classical_parallel"}],
    "train": {"epochs": 1, "batch_size": 32, "lr": 5.0e-3},
    "seeds": [0, 1],
    "limit": 200,
    "eval_limit": 150,
}


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "qclf.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_dirs(out: Path) -> list[Path]:
    return [out / "digits" / m / f"seed{s}" for s in SEEDS for m in MODELS]


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> dict:
    """Start a bench, SIGKILL it once its first run has finished, then run it to the end."""
    tmp = tmp_path_factory.mktemp("bench")
    config = _write(tmp / "tiny.yaml", BENCH)
    out = tmp / "out"
    args = ["bench", str(config), "--out", str(out), "--no-progress"]
    first = _run_dirs(out)[0] / "metrics.json"  # the loop order is data set, seed, model

    killed = _cli(*args)
    deadline = time.time() + 300
    while not first.exists() and time.time() < deadline and killed.poll() is None:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    _, err = killed.communicate()
    assert first.exists(), err
    before = first.stat()
    assert not (out / "summary.csv").exists(), "the bench finished before it was killed"

    resumed = _cli(*args)
    stdout, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    return {"out": out, "config": config, "first": first, "before": before, "stdout": stdout}


def test_resume_redoes_no_finished_run(bench) -> None:
    after = bench["first"].stat()
    assert (after.st_ino, after.st_mtime_ns) == (bench["before"].st_ino,
                                                 bench["before"].st_mtime_ns)
    for d in _run_dirs(bench["out"]):
        m = json.loads((d / "metrics.json").read_text())
        assert len(m["history"]) == 1 and m["n_train"] == 200


def test_summary_matches_per_seed_metrics(bench) -> None:
    out = bench["out"]
    for name in ("summary.csv", "summary.md", "accuracy_vs_params.png", "learning_curves.png"):
        assert (out / name).stat().st_size > 0, name
    for png in ("accuracy_vs_params.png", "learning_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["model"] for r in rows] == list(MODELS)
    per_model = {}
    for r in rows:
        ms = [json.loads((out / "digits" / r["model"] / f"seed{s}" / "metrics.json").read_text())
              for s in SEEDS]
        acc = [m["test_accuracy"] for m in ms]
        per_model[r["model"]] = acc
        assert int(r["n_seeds"]) == 2
        assert float(r["test_acc_mean"]) == pytest.approx(statistics.mean(acc), abs=1e-6)
        assert float(r["test_acc_std"]) == pytest.approx(statistics.stdev(acc), abs=1e-6)
        assert int(r["params_total"]) == ms[0]["params"]["total"]
        assert int(r["params_quantum"]) == ms[0]["params"]["quantum"]
        assert float(r["seconds_per_epoch_mean"]) == pytest.approx(
            statistics.mean(m["seconds_per_epoch"] for m in ms), abs=1e-6)
    assert int(rows[0]["params_quantum"]) > 0 and int(rows[1]["params_quantum"]) == 0
    # the hybrid's row carries the paired difference to its registered twin
    assert rows[0]["twin"] == "classical_parallel"
    diffs = [a - b for a, b in zip(per_model["hqnn_parallel"], per_model["classical_parallel"],
                                   strict=True)]
    assert float(rows[0]["delta_vs_twin_mean"]) == pytest.approx(statistics.mean(diffs), abs=1e-6)
    md = (out / "summary.md").read_text()
    assert "qclf bench" in md and "| digits | hqnn_parallel |" in md
    assert "| digits | classical_parallel |" in md
    assert "| digits | hqnn_parallel |" in bench["stdout"]  # the table is printed at the end


def test_report_reproduces_summary(bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "copy"
    shutil.copytree(bench["out"], out)
    expected_csv = (out / "summary.csv").read_bytes()
    expected_md = (out / "summary.md").read_bytes()
    for name in ("summary.csv", "summary.md", "accuracy_vs_params.png", "learning_curves.png"):
        (out / name).unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "summary.csv").read_bytes() == expected_csv
    assert (out / "summary.md").read_bytes() == expected_md
    assert (out / "learning_curves.png").exists() and (out / "accuracy_vs_params.png").exists()
    assert "| digits | hqnn_parallel |" in capsys.readouterr().out


def test_rerun_of_finished_bench_trains_nothing(bench, tmp_path: Path) -> None:
    from qclf.bench import run_bench

    out = tmp_path / "copy"
    shutil.copytree(bench["out"], out)
    statuses = run_bench(load_bench(bench["config"]), out, progress=False)
    assert [s.status for s in statuses] == ["done"] * 4


@pytest.mark.parametrize("change, key", [
    ({"limit": 150}, "limit"),
    ({"train": {"epochs": 1, "batch_size": 16, "lr": 5.0e-3}}, "train.batch_size"),
    ({"models": [{"name": "hqnn_parallel", "kw": {"depth": 1}},
                 {"name": "classical_parallel"}]}, "models[hqnn_parallel]"),
])
def test_changed_config_on_existing_out_is_an_error(bench, tmp_path: Path, capsys, change,
                                                    key: str) -> None:
    out = tmp_path / "copy"
    shutil.copytree(bench["out"], out, ignore=shutil.ignore_patterns("*.pt", "*.png"))
    config = _write(tmp_path / "changed.yaml", {**BENCH, **change})
    assert main(["bench", str(config), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and key in err
    assert not (out / "digits" / "hqnn_parallel" / "seed0" / "checkpoint.pt").exists()


def test_fewer_epochs_on_existing_out_is_an_error(bench, tmp_path: Path) -> None:
    from qclf.bench import check_compatible, read_bench

    old = read_bench(bench["out"])
    new = load_bench(bench["config"])
    new.train = {**new.train, "epochs": 3, "scheduler": "cosine"}
    with pytest.raises(BenchConfigError, match="train.epochs"):
        check_compatible(old, new, tmp_path)
    new.train = {**new.train, "scheduler": None}
    check_compatible(old, new, tmp_path)  # more epochs without a schedule extend the runs
    old.train = {**old.train, "epochs": 5}
    with pytest.raises(BenchConfigError, match="more epochs"):
        check_compatible(old, new, tmp_path)


def test_harness_does_not_perturb_runs(bench) -> None:
    """A bench run equals the same run trained alone with the loop (same seed, same numbers)."""
    from qclf.train import TrainConfig, fit

    d = bench["out"] / "digits" / "classical_parallel" / "seed1"
    m = json.loads((d / "metrics.json").read_text())
    alone = fit(TrainConfig.from_dict({**m["config"], "out": None, "progress": False})).metrics
    # The bench ran with one thread and this process uses two: allow float reduction noise,
    # far below what another data order or initialisation would change.
    assert alone["train_loss"] == pytest.approx(m["train_loss"], rel=1e-4)
    assert alone["val_accuracy"] == pytest.approx(m["val_accuracy"], abs=1.5 / m["n_val"])
    assert alone["test_accuracy"] == pytest.approx(m["test_accuracy"], abs=1.5 / m["n_test"])


def test_attack_adds_robust_accuracy_to_finished_runs(bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "copy"
    shutil.copytree(bench["out"], out)
    metrics_before = [(d / "metrics.json").stat().st_mtime_ns for d in _run_dirs(out)]
    args = ["bench", str(bench["config"]), "--out", str(out), "--no-progress",
            "--attack", "fgsm", "--eps", "0.1"]
    assert main(args) == 0
    assert [(d / "metrics.json").stat().st_mtime_ns for d in _run_dirs(out)] == metrics_before
    for d in _run_dirs(out):
        a = json.loads((d / "attack_fgsm_eps0.1.json").read_text())
        assert a["method"] == "fgsm" and a["eps"] == 0.1 and a["n"] == 150
        assert 0.0 <= a["robust_accuracy"] <= 1.0
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert all(r["robust_fgsm_eps0.1_mean"] != "" for r in rows)
    assert "FGSM ε=0.1" in capsys.readouterr().out
    stamp = (_run_dirs(out)[0] / "attack_fgsm_eps0.1.json").stat().st_mtime_ns
    assert main(args) == 0  # attacks are not redone either
    assert (_run_dirs(out)[0] / "attack_fgsm_eps0.1.json").stat().st_mtime_ns == stamp


# --- config validation (no training) -------------------------------------------------------------

def test_experiment_configs_load() -> None:
    root = Path(__file__).resolve().parents[1] / "experiments"
    smoke = load_bench(root / "digits_smoke.yaml")
    assert [m.name for m in smoke.models] == list(MODELS) and smoke.datasets == ["digits"]
    s1 = load_bench(root / "s1_hqnn_parallel.yaml")
    assert s1.datasets == ["mnist", "pneumoniamnist", "breastmnist"]
    assert s1.train["lr"] == 1e-3 and s1.train["batch_size"] == 64 and s1.train["epochs"] == 10
    assert s1.seeds == [0, 1, 2] and "Medical MNIST" in s1.departures


@pytest.mark.parametrize("bad, error, match", [
    ({"modles": []}, BenchConfigError, r"unknown key\(s\) \['modles'\].*allowed"),
    ({"train": {"epochs": 1, "momentum": 0.9}}, BenchConfigError,
     r"'momentum'\] in train; allowed"),
    ({"train": {"epochs": 0}}, BenchConfigError, "train.epochs must be an integer >= 1, got 0"),
    ({"train": {"optimizer": "lbfgs"}}, BenchConfigError, "optimizer"),
    ({"models": [{"name": "hqnn_paralel"}]}, UnknownNameError, "Did you mean 'hqnn_parallel'"),
    ({"models": [{"name": "hqnn_parallel", "kw": {"qubits": 3}}]}, BenchConfigError, "qubits"),
    ({"models": [{"name": "hqnn_parallel", "colour": 1}]}, BenchConfigError, r"models\[0\]"),
    ({"models": [{"name": "hqnn_parallel"}, {"name": "hqnn_parallel"}]}, BenchConfigError,
     "label"),
    ({"datasets": ["digitz"]}, UnknownNameError, "digits"),
    ({"seeds": [0, 0]}, BenchConfigError, "twice"),
    ({"attack": {"method": "cw", "eps": 0.1}}, BenchConfigError, "fgsm or pgd"),
    ({"attack": {"method": "pgd", "eps": 0.1, "step": 3}}, BenchConfigError, "'step'"),
])
def test_bad_configs_name_the_bad_key(bad: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        parse_bench({**BENCH, **bad})


def test_same_model_twice_with_labels() -> None:
    cfg = parse_bench({**BENCH, "models": [
        {"name": "hqnn_parallel", "kw": {"depth": 1}, "label": "hqnn_d1"},
        {"name": "hqnn_parallel", "kw": {"depth": 3}, "label": "hqnn_d3"}],
        "attack": [{"method": "fgsm", "eps": 0.1}, {"method": "pgd", "eps": 0.1, "alpha": 0.01}]})
    assert [m.label for m in cfg.models] == ["hqnn_d1", "hqnn_d3"]
    assert [a.key for a in cfg.attack] == ["fgsm_eps0.1", "pgd_eps0.1"]


def test_help(capsys) -> None:
    for cmd in ("bench", "report"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        assert "usage: qclf " + cmd in capsys.readouterr().out


def test_more_epochs_extend_finished_runs(tmp_path: Path) -> None:
    """--epochs beyond a finished bench continues each run from its checkpoint, to the numbers a
    bench with that many epochs from the start gives."""
    from qclf.bench import run_bench

    cfg = parse_bench({**BENCH, "models": [{"name": "classical_parallel"}], "seeds": [0]})
    assert [s.status for s in run_bench(cfg, tmp_path / "a", progress=False)] == ["new"]
    cfg.train = {**cfg.train, "epochs": 2}
    assert [s.status for s in run_bench(cfg, tmp_path / "a", progress=False)] == ["extended"]
    assert [s.status for s in run_bench(cfg, tmp_path / "b", progress=False)] == ["new"]
    a, b = (json.loads((tmp_path / x / "digits" / "classical_parallel" / "seed0" /
                        "metrics.json").read_text()) for x in "ab")
    assert a["epochs"] == b["epochs"] == 2
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert a["test_accuracy"] == b["test_accuracy"]


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    config = _write(tmp_path / "bad.yaml", {**BENCH, "models": [{"name": "hqnn_paralel"}]})
    assert main(["bench", str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qclf: error: unknown model 'hqnn_paralel'") and "\n" not in err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "bench.json" in capsys.readouterr().err
    good = _write(tmp_path / "good.yaml", BENCH)
    assert main(["bench", str(good), "--eps", "0.1", "--out", str(tmp_path / "o")]) == 2
    assert "--attack" in capsys.readouterr().err

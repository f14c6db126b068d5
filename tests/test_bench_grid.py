"""Bench ``grid:`` sections and per-run failures (local executor; the Ray tests reuse both)."""

from __future__ import annotations

import csv
import json

import pytest

from qclf.bench import BenchConfigError, parse_bench, run_bench, write_summary
from qclf.bench.executors import LocalExecutor
from qclf.cli import main

BASE = {
    "system": "grid-test",
    "datasets": ["digits"],
    "models": [{"name": "hqnn_parallel", "kw": {"n_circuits": 2, "n_qubits": 2}},
               {"name": "classical_parallel", "kw": {"n_circuits": 2, "n_qubits": 2}}],
    "train": {"epochs": 1, "batch_size": 32, "lr": 5.0e-3},
    "seeds": [0],
    "limit": 120,
    "eval_limit": 60,
}


def test_grid_expands_per_model_and_point():
    cfg = parse_bench({**BASE, "grid": {"depth": [1, 2], "lr": [5e-3, "1e-2"]}})
    labels = [m.label for m in cfg.models]
    assert labels == [
        "hqnn_parallel+depth1+lr0.005", "hqnn_parallel+depth1+lr0.01",
        "hqnn_parallel+depth2+lr0.005", "hqnn_parallel+depth2+lr0.01",
        "classical_parallel+depth1+lr0.005", "classical_parallel+depth1+lr0.01",
        "classical_parallel+depth2+lr0.005", "classical_parallel+depth2+lr0.01"]
    spec = cfg.model("hqnn_parallel+depth2+lr0.01")
    tc = cfg.train_config("digits", spec, 0, None)
    assert (tc.lr, tc.model_kw["depth"], tc.model_kw["n_qubits"]) == (0.01, 2, 2)
    assert spec.point == {"depth": 2, "lr": 0.01}


def test_grid_key_for_one_model_leaves_the_other_as_reference():
    base = {**BASE, "models": [{"name": "hqnn_parallel"}, {"name": "classical_quanv_equal"}]}
    cfg = parse_bench({**base, "grid": {"n_circuits": [2, 4]}})
    assert [m.label for m in cfg.models] == ["hqnn_parallel+n_circuits2",
                                             "hqnn_parallel+n_circuits4", "classical_quanv_equal"]
    assert cfg.models[-1].point == {}


@pytest.mark.parametrize("grid, message", [
    ({"depht": [1, 2]}, "grid.depht applies to no model"),
    ({"depth": []}, "grid.depth must be a non-empty list"),
    ({"depth": [1, 1]}, "grid.depth lists a value twice"),
    ({"lr": ["fast"]}, "grid.lr must be numbers"),
    ({"epochs": [1, 2]}, "grid.epochs is not supported"),
    ({"batch_size": [32, 0]}, "grid.batch_size value 0"),
    ([1, 2], "grid must be a mapping"),
])
def test_bad_grid_is_named(grid, message):
    with pytest.raises(BenchConfigError, match=message):
        parse_bench({**BASE, "grid": grid})


def test_grid_summary_groups_by_point_and_plots(tmp_path):
    cfg = parse_bench({**BASE, "grid": {"lr": [5e-3, 1e-2]}})
    out = tmp_path / "out"
    statuses = run_bench(cfg, out, progress=False, executor=LocalExecutor())
    assert sorted(s.status for s in statuses) == ["new"] * 4
    table = write_summary(out, cfg)
    assert "| Grid point |" in table.splitlines()[0]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["grid_point"] for r in rows] == ["lr=0.005", "lr=0.005", "lr=0.01", "lr=0.01"]
    hybrid = [r for r in rows if r["registry_name"] == "hqnn_parallel"]
    # the twin at the same point is the paired reference
    assert [r["twin"] for r in hybrid] == ["classical_parallel+lr0.005",
                                           "classical_parallel+lr0.01"]
    assert (out / "accuracy_vs_grid.png").stat().st_size > 10_000
    # the learning rate of each point reached the optimiser
    m = json.loads((out / "digits" / "hqnn_parallel+lr0.01" / "seed0" / "metrics.json")
                   .read_text())
    assert m["config"]["lr"] == 0.01


def test_a_failing_run_is_reported_and_the_others_finish(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    import yaml

    config.write_text(yaml.safe_dump({**BASE, "grid": {"depth": [0, 1]}}), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["bench", str(config), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 run(s) failed" in err and "depth must be a positive int, got 0" in err
    assert "digits/hqnn_parallel+depth0/seed0: FAILED" in err
    done = sorted(p.parent.parent.name for p in out.glob("digits/*/seed0/metrics.json"))
    assert done == ["classical_parallel+depth1", "hqnn_parallel+depth1"]
    summary = (out / "summary.md").read_text()
    assert "## Failed runs" in summary and "hqnn_parallel+depth0/seed0" in summary
    assert "**Incomplete: 2 of 4 runs finished.**" in summary


def test_ray_executor_without_ray_names_the_extra(monkeypatch):
    import sys

    from qclf.bench.executors import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(BenchConfigError, match=r"pip install 'qclf\[ray\]'"):
        RayExecutor()


def test_ray_only_flags_need_the_ray_executor(tmp_path, capsys):
    config = tmp_path / "b.yaml"
    import yaml

    config.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    assert main(["bench", str(config), "--out", str(tmp_path / "o"), "--gpus-per-run", "1"]) == 2
    assert "--gpus-per-run needs --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

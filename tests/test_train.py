"""The shared loop: learning, checkpoints that resume exactly, and clear errors on bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from qclf.data import load_dataset
from qclf.evaluate import NonFiniteInputError
from qclf.models import InputShapeError, create_model
from qclf.results.run_dir import OutputDirError
from qclf.train import CheckpointError, TrainConfig, fit


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "qclf.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _strip_times(metrics: dict) -> dict:
    drop = {"seconds_per_epoch", "seconds_first_epoch", "peak_memory_mb", "config"}
    m = {k: v for k, v in metrics.items() if k not in drop}
    m["history"] = [{k: v for k, v in r.items() if k != "seconds"} for r in metrics["history"]]
    return m


def test_kill_and_resume_equals_uninterrupted(tmp_path: Path) -> None:
    common = ["train", "--model", "hqnn_parallel", "--dataset", "digits", "--epochs", "4",
              "--limit", "400", "--batch-size", "32", "--lr", "5e-3", "--no-progress"]
    ref = _cli(*common, "--out", str(tmp_path / "ref"))
    killed = _cli(*common, "--out", str(tmp_path / "run"))
    ckpt = tmp_path / "run" / "checkpoint.pt"
    deadline = time.time() + 240
    while not ckpt.exists() and time.time() < deadline and killed.poll() is None:
        time.sleep(0.02)
    assert ckpt.exists(), killed.communicate()[1]
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "run" / "metrics.json").exists(), "run finished before it was killed"
    first = torch.load(ckpt, weights_only=False)["epoch"]
    assert 1 <= first < 4

    resumed = _cli(*common, "--out", str(tmp_path / "run"), "--resume")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    _, err = ref.communicate(timeout=600)
    assert ref.returncode == 0, err

    a = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    b = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(b["history"]) == 4
    assert _strip_times(a) == _strip_times(b)
    sa = torch.load(tmp_path / "ref" / "checkpoint.pt", weights_only=False)["model"]
    sb = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["model"]
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_results_files_written(tmp_path: Path) -> None:
    cfg = TrainConfig(model="classical_parallel", dataset="digits", epochs=2, limit=200,
                      out=str(tmp_path), progress=False)
    fit(cfg)
    m = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("model", "dataset", "seed", "test_accuracy", "train_loss", "params", "history"):
        assert key in m
    assert isinstance(m["test_accuracy"], float)
    assert set(m["params"]) >= {"total", "quantum", "classical"}
    assert m["params"]["quantum"] == 0
    assert {"train_loss", "val_accuracy", "seconds"} <= set(m["history"][0])
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == 3 and "val_accuracy" in lines[0]
    for png in ("learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_corrupt_checkpoint_is_an_error_and_kept(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"not a checkpoint at all")
    cfg = TrainConfig(model="classical_parallel", epochs=1, limit=100, out=str(tmp_path),
                      resume=True, progress=False)
    with pytest.raises(CheckpointError, match="corrupt"):
        fit(cfg)
    assert ckpt.read_bytes() == b"not a checkpoint at all"


def test_mismatched_checkpoint_is_an_error(tmp_path: Path) -> None:
    fit(TrainConfig(model="classical_parallel", epochs=1, limit=100, out=str(tmp_path),
                    progress=False))
    cfg = TrainConfig(model="classical_parallel", epochs=2, limit=100, lr=0.5, out=str(tmp_path),
                      resume=True, progress=False)
    with pytest.raises(CheckpointError, match="lr"):
        fit(cfg)


def test_existing_run_is_not_overwritten_silently(tmp_path: Path) -> None:
    cfg = TrainConfig(model="classical_parallel", epochs=1, limit=100, out=str(tmp_path),
                      progress=False)
    fit(cfg)
    with pytest.raises(OutputDirError, match="resume=True .* overwrite=True"):
        fit(cfg)


def test_resume_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    cfg = TrainConfig(model="classical_parallel", epochs=1, out=str(tmp_path / "none"),
                      resume=True, progress=False)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        fit(cfg)


def test_nan_in_batch_is_a_clear_error() -> None:
    data = {s: load_dataset("digits", s, limit=60) for s in ("train", "val", "test")}
    data["train"].images = data["train"].images.float().clone()
    data["train"].images[5, 0, 3, 3] = float("nan")
    cfg = TrainConfig(model="classical_parallel", epochs=1, batch_size=64, progress=False)
    with pytest.raises(NonFiniteInputError, match="NaN"):
        fit(cfg, data=data)


def test_wrong_input_shape_is_a_clear_error() -> None:
    model = create_model("hqnn_parallel", dataset="digits")
    with pytest.raises(InputShapeError, match=r"\(batch, 1, 8, 8\)"):
        model(torch.zeros(2, 1, 28, 28))
    with pytest.raises(InputShapeError):
        model(torch.zeros(1, 8, 8))


def test_unknown_names_are_clear_errors() -> None:
    with pytest.raises(KeyError, match="hqnn_parallel"):
        create_model("hqnn_paralel", dataset="digits")
    with pytest.raises(KeyError, match="qclf list datasets"):
        load_dataset("mnistt", "train")


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    p = _cli("train", "--model", "nope", "--out", str(tmp_path), "--no-progress")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2
    assert err.startswith("qclf: error: unknown model 'nope'") and "Traceback" not in err
    p = _cli("train", "--model", "hqnn_parallel", "--dataset", "mnist", "--data-dir",
             str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "Traceback" not in err
    assert str(tmp_path) in err and "mnist" in err


@pytest.mark.parametrize("cmd", [[], ["demo"], ["train"], ["list"]])
def test_cli_help(cmd: list[str]) -> None:
    p = _cli(*cmd, "--help")
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0 and "usage: qclf" in out


def test_single_sample_last_batch_joins_previous() -> None:
    from qclf.train.loop import batches

    parts = batches(torch.arange(65), 64)
    assert [len(p) for p in parts] == [65]
    assert [len(p) for p in batches(torch.arange(129), 64)] == [64, 65]
    assert [len(p) for p in batches(torch.arange(130), 64)] == [64, 64, 2]
    assert [len(p) for p in batches(torch.arange(1), 64)] == [1]
    assert torch.equal(torch.cat(batches(torch.arange(129), 64)), torch.arange(129))


def test_resume_without_out_is_an_error() -> None:
    cfg = TrainConfig(model="classical_parallel", epochs=1, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="resume=True needs out"):
        fit(cfg)

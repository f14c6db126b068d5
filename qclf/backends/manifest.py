"""The job manifest of a submission: one JSON file (atomic rewrites) plus saved results.

``RUN_DIR/jobs/<backend>-<timestamp>.json`` holds the backend, shots, seeds, options and, per
chunk of images, every job (id, call index, images covered, status: submitted / done / failed /
lost, the hash of its circuits) and the chunk's predictions once known; each finished job's
results are ``RUN_DIR/jobs/<manifest stem>/chunk<k>-call<j>.npz``. No credentials.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from qclf.backends.evaluation import chunk_ranges, chunk_seed
from qclf.backends.runs import TrainedRun, write_json_atomic
from qclf.backends.template import Estimate


class Manifest:
    """The job manifest of one submission (a JSON file, rewritten atomically on every change)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = Path(path), data

    @property
    def results_dir(self) -> Path:
        return self.path.with_suffix("")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read manifest {path}: {exc}") from None
        return cls(path, data)

    def save(self) -> None:
        self.data["updated"] = now()
        write_json_atomic(self.path, self.data)

    def jobs(self) -> list[dict[str, Any]]:
        return [j for c in self.data["chunks"] for j in c["jobs"]]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_manifest(run: TrainedRun, backend, chunk_size: int, limit: int | None,
                 data_dir: str | None) -> Manifest:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    path = run.run_dir / "jobs" / f"{backend.name.replace(':', '_')}-{stamp}.json"
    seed = backend.seed
    data = {
        "version": 1, "created": now(), "status": "submitting",
        "model": run.config.get("model"), "dataset": run.config.get("dataset"),
        "backend": backend.name, "shots": backend.shots, "seed": seed,
        "options": dict(backend.options),
        "limit": limit, "data_dir": data_dir, "chunk_size": chunk_size,
        "n_images": len(run.labels),
        "chunks": [{"index": k, "images": [r.start, r.stop], "seed": chunk_seed(seed, k),
                    "jobs": [], "predictions": None}
                   for k, r in enumerate(chunk_ranges(len(run.labels), chunk_size))],
    }
    return Manifest(path, data)


def save_result(m: Manifest, chunk: int, call: int, est: list[Estimate]) -> str:
    m.results_dir.mkdir(parents=True, exist_ok=True)
    name = f"chunk{chunk}-call{call}.npz"
    arrays = {f"values{i}": e.values for i, e in enumerate(est)}
    arrays.update({f"stderr{i}": e.stderr for i, e in enumerate(est)})
    tmp = m.results_dir / f".{name}.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, m.results_dir / name)
    return name


def load_result(m: Manifest, name: str) -> list[Estimate] | None:
    path = m.results_dir / name
    if not path.exists():
        return None
    with np.load(path) as z:
        n = sum(1 for k in z.files if k.startswith("values"))
        return [Estimate(z[f"values{i}"], z[f"stderr{i}"]) for i in range(n)]


def usable(m: Manifest, job: dict[str, Any]) -> bool:
    return job["status"] == "done" and load_result(m, job["result"]) is not None


def find_manifests(run_dir: str | os.PathLike[str]) -> list[Path]:
    return sorted((Path(run_dir) / "jobs").glob("*.json"))


def status(manifest_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts of jobs by status and images with predictions, for ``qclf jobs``."""
    d = Manifest.load(manifest_path).data
    jobs = [j for c in d["chunks"] for j in c["jobs"]]
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["status"]] = counts.get(j["status"], 0) + 1
    done_images = sum(c["images"][1] - c["images"][0] for c in d["chunks"]
                      if c["predictions"] is not None)
    return {"manifest": Path(manifest_path).name, "backend": d["backend"], "shots": d["shots"],
            "status": d["status"], "jobs": counts, "images_done": done_images,
            "images": d["n_images"], "updated": d.get("updated")}

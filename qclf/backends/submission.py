"""Resumable submission of a trained model's test images to a device, with a job manifest.

``submit`` records every chunk's circuits locally first (:class:`RecordingBackend`), writes the
manifest ``RUN_DIR/jobs/<backend>-<timestamp>.json`` (atomic), and submits every job — writing
each job id into the manifest as soon as it exists — before waiting on any. Results are saved as
they arrive (``RUN_DIR/jobs/<manifest stem>/chunk<k>-call<j>.npz``), then each chunk's forward is
replayed from them (:class:`ReplayBackend`) and the same ``eval-*.json`` as ``qclf evaluate``
is written. ``resume`` (``qclf jobs --resume``) runs the same steps on an existing manifest:
finished results are loaded, jobs the service still holds are collected by id, and only calls
that never finished (lost with a killed local run, failed on the server, never submitted) are
submitted again — each with its original seed, so the outcome equals an uninterrupted run.

Nothing secret is stored: the manifest holds backend name, shots, seeds, options, job ids and
indices of the images each job covers.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from qclf.backends.errors import BackendError
from qclf.backends.evaluation import (
    chunk_ranges,
    chunk_seed,
    exact_predictions,
    summary,
    write_evaluation,
)
from qclf.backends.model import check_model, on_backend
from qclf.backends.recording import RecordingBackend, ReplayBackend, call_hash
from qclf.backends.registry import get_backend
from qclf.backends.runs import TrainedRun, load_run, write_json_atomic
from qclf.backends.template import Estimate

#: test hook: exit (as if killed) right after this many job ids are in the manifest
EXIT_AFTER_ENV = "QCLF_TEST_EXIT_AFTER_JOBS"
#: a rough per-shot cost on IBM devices (default repetition delay 250 us) for --dry-run
SECONDS_PER_SHOT = 250e-6
#: one job carries at most this many bindings x shots (IBM's per-job execution limit is 10M)
MAX_EXECUTIONS_PER_JOB = 5_000_000


def record_chunk(run: TrainedRun, like, idx: range) -> list:
    """The backend calls (lists of batches) the model makes for images ``idx``."""
    rec = RecordingBackend(like)
    with torch.no_grad(), on_backend(run.model, rec):
        run.model(run.images[idx.start:idx.stop])
    return rec.calls


def dry_run(run: TrainedRun, backend, chunk_size: int) -> dict[str, Any]:
    """What ``submit`` would run: circuits, PUBs, jobs, shots, ISA depth/2q gates, QPU time."""
    circuits = pubs = jobs = 0
    templates = {}
    for idx in chunk_ranges(len(run.labels), chunk_size):
        for call in record_chunk(run, backend, idx):
            jobs += 1
            pubs += len(call)
            circuits += sum(b.size for b in call)
            for b in call:
                templates[id(b.template)] = b.template
    isa = []
    for t in templates.values():
        qc = backend.isa(t) if hasattr(backend, "isa") else t.qiskit_circuit()
        isa.append({"qubits": t.num_qubits, "isa_depth": qc.depth(),
                    "two_qubit_gates": sum(1 for i in qc.data if i.operation.num_qubits == 2)})
    shots = backend.shots or 0
    return {"backend": backend.name, "shots": backend.shots, "images": len(run.labels),
            "circuits": circuits, "pubs": pubs, "jobs": jobs, "total_shots": circuits * shots,
            "circuit_shapes": isa,
            "estimated_qpu_seconds": round(circuits * shots * SECONDS_PER_SHOT + 2.0 * jobs, 1)}


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
        self.data["updated"] = _now()
        write_json_atomic(self.path, self.data)

    def jobs(self) -> list[dict[str, Any]]:
        return [j for c in self.data["chunks"] for j in c["jobs"]]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_manifest(run: TrainedRun, backend, chunk_size: int, limit: int | None,
                 data_dir: str | None) -> Manifest:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    path = run.run_dir / "jobs" / f"{backend.name.replace(':', '_')}-{stamp}.json"
    seed = backend.seed
    data = {
        "version": 1, "created": _now(), "status": "submitting",
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


def _save_result(m: Manifest, chunk: int, call: int, est: list[Estimate]) -> str:
    m.results_dir.mkdir(parents=True, exist_ok=True)
    name = f"chunk{chunk}-call{call}.npz"
    arrays = {f"values{i}": e.values for i, e in enumerate(est)}
    arrays.update({f"stderr{i}": e.stderr for i, e in enumerate(est)})
    tmp = m.results_dir / f".{name}.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, m.results_dir / name)
    return name


def _load_result(m: Manifest, name: str) -> list[Estimate] | None:
    path = m.results_dir / name
    if not path.exists():
        return None
    with np.load(path) as z:
        n = sum(1 for k in z.files if k.startswith("values"))
        return [Estimate(z[f"values{i}"], z[f"stderr{i}"]) for i in range(n)]


def _usable(m: Manifest, job: dict[str, Any]) -> bool:
    return job["status"] == "done" and _load_result(m, job["result"]) is not None


def drive(m: Manifest, run: TrainedRun, backend, progress: bool = True) -> dict[str, Any]:
    """Submit what is missing, collect what is pending, replay, write ``eval-*.json``."""
    exit_after = int(os.environ.get(EXIT_AFTER_ENV, "0") or 0)
    t0 = time.perf_counter()
    chunks = [c for c in m.data["chunks"] if c["predictions"] is None]
    live: dict[str, Any] = {}  # job id -> job object submitted by this process
    plans: dict[int, list] = {}
    # 1. record every open chunk and submit each call that has no usable or pending job
    for c in tqdm(chunks, desc="submitting", unit="chunk", disable=not progress):
        start, stop = c["images"]
        calls = record_chunk(run, backend, range(start, stop))
        plans[c["index"]] = calls
        for j, batches in enumerate(calls):
            size = sum(b.size for b in batches)
            if size * (backend.shots or 1) > MAX_EXECUTIONS_PER_JOB:
                raise ValueError(f"one job would carry {size} circuits x {backend.shots} shots; "
                                 "lower --chunk-size")
            entries = [e for e in c["jobs"] if e["call"] == j]
            if any(_usable(m, e) for e in entries):
                continue
            pending = [e for e in entries if e["status"] == "submitted"]
            if pending and _recover(m, backend, pending[-1], live):
                continue
            for e in pending:
                e["status"] = "lost"  # never finished and not held by the service
            job = backend.submit(batches, seed=chunk_seed(c["seed"], j))
            jid = job.job_id()
            live[jid] = job
            c["jobs"].append({"call": j, "job_id": jid, "status": "submitted",
                              "images": [start, stop], "circuits": size, "pubs": len(batches),
                              "hash": call_hash(batches), "result": None,
                              "submitted": _now()})
            m.save()
            if exit_after and sum(1 for e in m.jobs() if e["job_id"]) >= exit_after:
                os._exit(17)  # test hook: die like a killed process, manifest on disk
    m.data["status"] = "running"
    m.save()
    # 2. collect every pending job, saving results as they arrive
    failed = []
    for c in tqdm(chunks, desc="collecting", unit="chunk", disable=not progress):
        for e in c["jobs"]:
            if e["status"] != "submitted":
                continue
            job = live.get(e["job_id"]) or backend.job(e["job_id"])
            try:
                est = backend.collect(job)
            except BackendError as exc:
                e["status"], e["error"] = "failed", str(exc)
                failed.append(e["job_id"])
                m.save()
                continue
            e["result"] = _save_result(m, c["index"], e["call"], est)
            e["status"], e["finished"] = "done", _now()
            m.save()
    if failed:
        raise BackendError(f"{len(failed)} job(s) failed on the server ({', '.join(failed)}); "
                           f"they are kept as failed in {m.path}: 'qclf jobs {run.run_dir} "
                           "--resume' resubmits them")
    # 3. replay each chunk's forward from its results
    for c in chunks:
        done = {e["call"]: e for e in c["jobs"] if e["status"] == "done"}
        calls = plans[c["index"]]
        replay = ReplayBackend([_load_result(m, done[j]["result"]) for j in range(len(calls))],
                               [done[j]["hash"] for j in range(len(calls))])
        start, stop = c["images"]
        with torch.no_grad(), on_backend(run.model, replay):
            c["predictions"] = run.model(run.images[start:stop]).argmax(1).tolist()
        m.save()
    preds = np.array([p for c in m.data["chunks"] for p in c["predictions"]])
    jobs = [e for e in m.jobs() if e["status"] == "done"]
    backend.stats.circuits = sum(e["circuits"] for e in jobs)
    backend.stats.pubs = sum(e["pubs"] for e in jobs)
    backend.stats.jobs = len(jobs)
    backend.stats.shots = backend.stats.circuits * (backend.shots or 0)
    backend.stats.job_ids = [e["job_id"] for e in jobs]
    backend.seed = m.data["seed"]
    result = summary(run, backend, preds, exact_predictions(run), time.perf_counter() - t0,
                     check_model(run.model), m.data["chunk_size"])
    result["manifest"] = str(m.path.name)
    result["options"] = m.data["options"]
    result["eval_file"] = str(write_evaluation(run.run_dir, result).name)
    m.data["status"] = "done"
    m.save()
    backend.close()
    return result


def _recover(m: Manifest, backend, entry: dict[str, Any], live: dict[str, Any]) -> bool:
    """Whether a job submitted earlier is still held by the service (then it is collected)."""
    if entry["job_id"] in live:
        return True
    try:
        job = backend.job(entry["job_id"])
    except Exception:  # noqa: BLE001 - unknown to the service: resubmit
        return False
    if job is None:
        return False
    live[entry["job_id"]] = job
    return True


def submit(run_dir: str | os.PathLike[str], backend_name: str, shots: int, limit: int | None,
           chunk_size: int = 64, seed: int | None = 0, data_dir: str | None = None,
           progress: bool = True, **options: Any) -> dict[str, Any]:
    """Submit ``limit`` test images of a trained run to ``backend_name`` (see module doc)."""
    if not backend_name.startswith(("fake:", "ibm:")):
        raise ValueError(f"qclf submit runs on fake:<name> or ibm:<name>, got {backend_name!r} "
                         "(use 'qclf evaluate' for aer/exact)")
    run = load_run(run_dir, limit, data_dir)
    backend = get_backend(backend_name, shots=shots, seed=seed, **options)
    m = new_manifest(run, backend, chunk_size, limit, data_dir)
    m.save()
    return drive(m, run, backend, progress)


def find_manifests(run_dir: str | os.PathLike[str]) -> list[Path]:
    return sorted((Path(run_dir) / "jobs").glob("*.json"))


def resume(manifest_path: str | os.PathLike[str], run_dir: str | os.PathLike[str],
           progress: bool = True) -> dict[str, Any]:
    """Continue the submission of ``manifest_path`` (see module doc)."""
    m = Manifest.load(manifest_path)
    d = m.data
    run = load_run(run_dir, d["limit"], d["data_dir"])
    if len(run.labels) != d["n_images"]:
        raise ValueError(f"{m.path} covers {d['n_images']} images but the run now gives "
                         f"{len(run.labels)}; was the data set changed?")
    opts = dict(d["options"])
    backend = get_backend(d["backend"], shots=d["shots"], seed=d["seed"], **opts)
    return drive(m, run, backend, progress)


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

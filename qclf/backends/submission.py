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

import os
import time
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
from qclf.backends.manifest import (
    Manifest,
    load_result,
    new_manifest,
    now,
    save_result,
    usable,
)
from qclf.backends.model import check_model, on_backend
from qclf.backends.recording import RecordingBackend, ReplayBackend, call_hash
from qclf.backends.registry import get_backend
from qclf.backends.runs import TrainedRun, load_run

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
            if any(usable(m, e) for e in entries):
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
                              "submitted": now()})
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
            e["result"] = save_result(m, c["index"], e["call"], est)
            e["status"], e["finished"] = "done", now()
            m.save()
    if failed:
        raise BackendError(f"{len(failed)} job(s) failed on the server ({', '.join(failed)}); "
                           f"they are kept as failed in {m.path}: 'qclf jobs {run.run_dir} "
                           "--resume' resubmits them")
    # 3. replay each chunk's forward from its results
    for c in chunks:
        done = {e["call"]: e for e in c["jobs"] if e["status"] == "done"}
        calls = plans[c["index"]]
        replay = ReplayBackend([load_result(m, done[j]["result"]) for j in range(len(calls))],
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

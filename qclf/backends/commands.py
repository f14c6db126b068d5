"""``qclf evaluate``, ``qclf submit`` and ``qclf jobs``: trained runs on simulators and devices."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _shots_list(text: str) -> list[int]:
    try:
        shots = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated shot counts, got {text!r}") from None
    if not shots or min(shots) < 1:
        raise argparse.ArgumentTypeError(f"shot counts must be >= 1, got {text!r}")
    return shots


def int_at_least(flag: str, minimum: int):
    from qclf.cli import int_at_least as parse  # the CLI's shared validator

    return parse(flag, minimum)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="folder of a trained run (checkpoint.pt)")
    p.add_argument("--limit", type=int_at_least("--limit", 1), default=None,
                   help="evaluate a stratified subset of N test images (the run's seed)")
    p.add_argument("--seed", type=int_at_least("--seed", 0), default=0,
                   help="seed of shot sampling (default 0)")
    p.add_argument("--chunk-size", type=int_at_least("--chunk-size", 1), default=64,
                   help="images per chunk (default 64): each quantum call of a chunk is one "
                   "job with all its circuits")
    p.add_argument("--optimization-level", type=int, default=1, choices=[0, 1, 2, 3],
                   help="preset pass manager level (default 1)")
    p.add_argument("--data-dir", default=None, help="data folder (default: the run's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _mitigation(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resilience-level", type=int, default=None, choices=[0, 1, 2],
                   help="IBM runtime error mitigation level (recorded; ignored by fake backends)")
    p.add_argument("--dynamical-decoupling", action="store_true",
                   help="IBM runtime dynamical decoupling")
    p.add_argument("--twirling", action="store_true", help="IBM runtime gate twirling")


def _runtime_options(args: argparse.Namespace) -> dict:
    opts = {"optimization_level": args.optimization_level}
    if args.backend.startswith(("fake:", "ibm:")):
        opts.update(resilience_level=args.resilience_level,
                    dynamical_decoupling=args.dynamical_decoupling, twirling=args.twirling)
    return opts


def _line(r: dict) -> str:
    noise = f" + {r['noise']} noise" if r.get("noise") else ""
    return (f"{r['model']} on {r['backend']}{noise}, {r['shots'] or 'exact'} shots: accuracy "
            f"{r['accuracy']:.4f} (exact engine {r['exact_accuracy']:.4f}) on {r['n_images']} "
            f"images; {r['circuits']} circuits in {r['pubs']} PUBs, {r['jobs']} jobs, "
            f"{r['wall_seconds']:.1f} s")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from qclf.backends import get_backend
    from qclf.backends.evaluation import evaluate_on_backend, plot_sweep, write_evaluation
    from qclf.backends.runs import eval_filename, load_run
    from qclf.results.run_dir import prepare_run_dir

    sweep = args.sweep_shots or [args.shots]
    outputs = [eval_filename(args.backend, args.noise, s) for s in sweep]
    if args.sweep_shots:
        from qclf.backends.evaluation import sweep_plot_name

        outputs.append(sweep_plot_name(args.backend, args.noise))
    # an earlier evaluation with the same backend/noise/shots is kept unless --overwrite
    if Path(args.run_dir).is_dir():
        prepare_run_dir(args.run_dir, outputs, resume=False, overwrite=args.overwrite,
                        out_option="run_dir")
    run = load_run(args.run_dir, args.limit, args.data_dir)
    exact = args.backend in ("exact", "default.qubit")
    opts = {} if exact else _runtime_options(args)
    results = []
    for shots in sweep:
        backend = get_backend(args.backend, shots=shots, noise=args.noise, seed=args.seed,
                              **opts)
        r = evaluate_on_backend(run, backend, args.chunk_size, progress=not args.no_progress)
        path = write_evaluation(run.run_dir, r)
        results.append(r)
        print(f"{_line(r)} -> {path}")
    if args.sweep_shots:
        print(f"plot -> {plot_sweep(run.run_dir, results)}")
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    from qclf.backends import get_backend
    from qclf.backends.runs import load_run
    from qclf.backends.submission import dry_run, submit

    if args.dry_run:
        run = load_run(args.run_dir, args.limit, args.data_dir)
        backend = get_backend(args.backend, shots=args.shots, seed=args.seed,
                              **_runtime_options(args))
        print(json.dumps(dry_run(run, backend, args.chunk_size), indent=2))
        print("dry run: nothing was submitted")
        return 0
    r = submit(args.run_dir, args.backend, args.shots, args.limit, args.chunk_size, args.seed,
               args.data_dir, not args.no_progress, **_runtime_options(args))
    print(f"{_line(r)} -> {Path(args.run_dir) / r['eval_file']} (manifest jobs/{r['manifest']})")
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from qclf.backends.manifest import find_manifests, status
    from qclf.backends.submission import resume

    manifests = [Path(args.manifest)] if args.manifest else find_manifests(args.run_dir)
    if not manifests:
        raise FileNotFoundError(f"{args.run_dir}/jobs holds no manifest: run 'qclf submit' first")
    if args.resume:
        target = manifests[-1]
        r = resume(target, args.run_dir, progress=not args.no_progress)
        print(f"{_line(r)} -> {Path(args.run_dir) / r['eval_file']} (manifest {target.name})")
        return 0
    for path in manifests:
        s = status(path)
        jobs = ", ".join(f"{n} {k}" for k, n in sorted(s["jobs"].items())) or "no jobs"
        print(f"{s['manifest']}: {s['backend']} {s['shots']} shots, {s['status']}; {jobs}; "
              f"{s['images_done']}/{s['images']} images done")
    return 0


def add_commands(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = sub.add_parser(
        "evaluate", help="evaluate a trained run with its circuits on a backend",
        description="Run the classical parts in torch and the quantum layers' circuits on "
        "BACKEND; writes RUN_DIR/eval-<backend>[-<noise>]-<shots>.json (accuracy, the exact "
        "engine's accuracy on the same images, circuits, PUBs, jobs, wall time) and, with "
        "--sweep-shots, accuracy_vs_shots-<backend>[-<noise>].png.")
    _common(p)
    p.add_argument("--backend", default="aer",
                   help="exact, default.qubit, aer, fake:<name> or ibm:<name> (default aer)")
    p.add_argument("--shots", type=int_at_least("--shots", 1), default=None,
                   help="shots per circuit (default: exact)")
    p.add_argument("--noise", default=None, help="aer only: a fake device's noise, e.g. "
                   "fake_manila")
    p.add_argument("--sweep-shots", type=_shots_list, default=None, metavar="N,N,...",
                   help="evaluate at each shot count, e.g. 64,256,1024,4096")
    p.add_argument("--overwrite", action="store_true",
                   help="move an earlier evaluation file of the same backend/noise/shots to "
                   "RUN_DIR/.previous-<timestamp>/ first")
    _mitigation(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "submit", help="submit a trained run's test images to a device, resumably",
        description="Submit in Batch mode with a job manifest in RUN_DIR/jobs/ (job ids, the "
        "images each job covers, status, options), results saved as they arrive; "
        "'qclf jobs RUN_DIR --resume' continues after a crash. Credentials for ibm: come from "
        "QISKIT_IBM_TOKEN / QISKIT_IBM_INSTANCE or the saved Qiskit account.")
    _common(p)
    p.add_argument("--backend", required=True, help="fake:<name> or ibm:<name>")
    p.add_argument("--shots", type=int_at_least("--shots", 1), default=1024,
                   help="shots per circuit (default 1024)")
    p.add_argument("--dry-run", action="store_true",
                   help="print circuits, PUBs, jobs, shots, ISA depth, 2q gates and estimated "
                   "QPU seconds; submit nothing")
    _mitigation(p)
    p.set_defaults(func=_cmd_submit)

    p = sub.add_parser("jobs", help="show or resume the submissions of a run",
                       description="Status of RUN_DIR/jobs/*.json manifests; --resume collects "
                       "finished jobs and submits only what never finished (latest manifest).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--resume", action="store_true", help="continue the latest submission")
    p.add_argument("--manifest", default=None, help="a specific manifest file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_jobs)

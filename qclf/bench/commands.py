"""CLI subcommands of the comparison harness: ``qclf bench`` and ``qclf report``."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds expects integers like 0,1,2, got {text!r}"
                                         ) from None
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed")
    return seeds


def _methods(text: str) -> list[str]:
    methods = [m for m in text.replace(" ", "").split(",") if m]
    bad = [m for m in methods if m not in ("fgsm", "pgd")]
    if bad or not methods:
        raise argparse.ArgumentTypeError(f"--attack expects fgsm, pgd or fgsm,pgd, got {text!r}")
    return methods


def _apply_overrides(cfg, args: argparse.Namespace) -> None:
    from qclf.bench.config import BenchConfigError, parse_attack

    if args.seeds is not None:
        if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
            raise BenchConfigError(f"--seeds must be distinct integers >= 0, got {args.seeds}")
        cfg.seeds = list(args.seeds)
    if args.datasets is not None:
        from qclf.bench.config import parse_datasets

        cfg.datasets = parse_datasets([d for d in args.datasets.split(",") if d.strip()])
    if args.epochs is not None:
        cfg.train = {**cfg.train, "epochs": args.epochs}
    for key in ("limit", "eval_limit"):
        value = getattr(args, key)
        if value is not None:
            if value < 1:
                raise BenchConfigError(f"--{key.replace('_', '-')} must be >= 1, got {value}")
            setattr(cfg, key, value)
    if args.attack is not None or args.eps is not None:
        base = cfg.attack[0] if cfg.attack else None
        if args.attack is None and base is None:
            raise BenchConfigError("--eps needs --attack fgsm|pgd (the config sets no attack)")
        methods = args.attack or [a.method for a in cfg.attack]
        eps = args.eps if args.eps is not None else (base.eps if base else 0.1)
        keep = base.to_dict() if base else {}
        if base and base.eps != eps:
            keep["alpha"] = None  # a step size set for another radius: use PGD's default
        cfg.attack = parse_attack([{**keep, "method": m, "eps": eps} for m in methods])
    cfg.device = args.device
    cfg.data_dir = args.data_dir
    cfg.download = args.download


def make_executor(args: argparse.Namespace):
    """The executor the flags ask for (``local`` unless ``--executor ray``)."""
    from qclf.bench.config import BenchConfigError
    from qclf.bench.executors import LocalExecutor, RayExecutor

    if args.executor == "local":
        for flag in ("address", "gpus_per_run"):
            if getattr(args, flag):
                raise BenchConfigError(f"--{flag.replace('_', '-')} needs --executor ray")
        if args.storage != "shared":
            raise BenchConfigError("--storage needs --executor ray")
        return LocalExecutor(cpus_per_run=args.cpus_per_run)
    return RayExecutor(address=args.address, cpus_per_run=args.cpus_per_run or 1,
                       gpus_per_run=args.gpus_per_run or 0.0, storage=args.storage)


def _cmd_bench(args: argparse.Namespace) -> int:
    import sys

    from qclf.bench.config import load_bench
    from qclf.bench.runner import run_bench
    from qclf.bench.summary import SUMMARY_MD, write_failures, write_summary
    from qclf.cli import announce_device

    cfg = load_bench(args.config)
    _apply_overrides(cfg, args)
    cfg.command = _command_line(args)
    out = Path(args.out or Path("runs") / "bench" / Path(args.config).stem)
    executor = make_executor(args)  # checks the executor flags before anything moves
    if args.overwrite:
        from qclf.results.run_dir import prepare_run_dir

        old = [p.name for p in out.iterdir() if not p.name.startswith(".")] if out.is_dir() else []
        prepare_run_dir(out, old, overwrite=True)
    announce_device(args.device)
    if hasattr(executor, "startup_seconds"):
        print(f"ray: {executor.parallelism} runs at a time, {args.cpus_per_run or 1} CPU(s) "
              f"each; start-up {executor.startup_seconds:.1f} s", file=sys.stderr)
    try:
        statuses = run_bench(cfg, out, progress=not args.no_progress, executor=executor)
    finally:
        if hasattr(executor, "shutdown"):
            executor.shutdown()
    failed = write_failures(out, statuses)
    print(write_summary(out, cfg), end="")
    print(f"-> {out / SUMMARY_MD}")
    if failed:
        print(f"qclf: {len(failed)} run(s) failed (listed in {out / SUMMARY_MD}):",
              file=sys.stderr)
        for st in failed:
            print(f"  {st.dataset}/{st.label}/seed{st.seed}: {st.error}", file=sys.stderr)
        return 1
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from qclf.bench.summary import SUMMARY_MD, write_summary

    out = Path(args.out)
    print(write_summary(out), end="")
    print(f"-> {out / SUMMARY_MD}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from qclf.cli import add_data_options, add_device_option, int_at_least

    """Add ``bench`` and ``report`` to the ``qclf`` parser."""
    p = sub.add_parser(
        "bench", help="train every model of an experiment config over several seeds",
        description="Train every model x data set x seed of CONFIG (experiments/*.yaml) with the "
        "shared loop (a seed fixes split, initialisation and data order for every model), then "
        "write OUT/summary.csv, OUT/summary.md, accuracy_vs_params.png and learning_curves.png. "
        "Resumable: rerunning the same command skips finished runs and continues killed ones.")
    p.add_argument("config", help="bench YAML, e.g. experiments/digits_smoke.yaml")
    p.add_argument("--seeds", type=_seeds, default=None, help="override seeds, e.g. 0,1,2")
    p.add_argument("--datasets", default=None,
                   help="override the config's data sets, e.g. mnist,breastmnist")
    p.add_argument("--epochs", type=int_at_least("--epochs", 1), default=None,
                   help="override train.epochs")
    p.add_argument("--limit", type=int_at_least("--limit", 1), default=None,
                   help="override limit: stratified subset of N training images")
    p.add_argument("--eval-limit", type=int_at_least("--eval-limit", 1), default=None,
                   help="override eval_limit: stratified subsets of N val/test images")
    add_device_option(p)
    add_data_options(p)
    p.add_argument("--out", default=None,
                   help="output folder (default runs/bench/<config file stem>); an earlier bench "
                   "of the same experiment there is continued")
    p.add_argument("--overwrite", action="store_true",
                   help="move an earlier bench in --out to OUT/.previous-<timestamp>/ first")
    p.add_argument("--attack", type=_methods, default=None, metavar="fgsm|pgd",
                   help="add robust accuracy under a white-box L∞ attack (fgsm, pgd or fgsm,pgd)")
    p.add_argument("--eps", type=float, default=None,
                   help="attack radius in pixel units of [0, 1] (default: config's, else 0.1); a "
                   "new radius resets PGD's step to its default 2.5*eps/steps")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: runs one after another in this process (default); ray: one Ray "
                   "task per run (pip install 'qclf[ray]')")
    p.add_argument("--address", default=None,
                   help="with --executor ray: join this cluster (auto or ray://HOST:PORT); "
                   "default: start a local Ray on this machine's cores")
    p.add_argument("--cpus-per-run", type=int, default=None,
                   help="CPUs per run; torch uses exactly this many threads (ray default 1, "
                   "local default torch's own)")
    p.add_argument("--gpus-per-run", type=float, default=None,
                   help="with --executor ray: GPUs per run (fractions allowed, e.g. 0.25)")
    p.add_argument("--storage", choices=["shared", "driver"], default="shared",
                   help="with --executor ray: shared: workers write run folders (one machine "
                   "or a shared filesystem); driver: workers send results back to this machine")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "report", help="re-render a bench's table and plots from its run folders",
        description="Rebuild OUT/summary.csv, summary.md and the plots from the finished runs in "
        "OUT (a `qclf bench` output folder); nothing is trained.")
    p.add_argument("out", help="a qclf bench output folder (holds bench.json)")
    p.set_defaults(func=_cmd_report)


def _command_line(args: argparse.Namespace) -> str:
    """The bench command as it would be typed, rebuilt from the parsed options."""
    parts = ["qclf", "bench", args.config]
    if args.seeds is not None:
        parts += ["--seeds", ",".join(map(str, args.seeds))]
    if args.datasets is not None:
        parts += ["--datasets", args.datasets]
    for flag in ("epochs", "limit", "eval_limit", "data_dir", "out", "eps"):
        value = getattr(args, flag)
        if value is not None:
            parts += [f"--{flag.replace('_', '-')}", str(value)]
    if args.attack is not None:
        parts += ["--attack", ",".join(args.attack)]
    if args.device != "auto":
        parts += ["--device", args.device]
    if args.executor != "local":
        parts += ["--executor", args.executor]
        if args.address:
            parts += ["--address", args.address]
    if args.cpus_per_run is not None:
        parts += ["--cpus-per-run", str(args.cpus_per_run)]
    return shlex.join(parts)

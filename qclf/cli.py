"""The ``qclf`` command line: a thin layer that wires registries, the loop and reports together.

Every subcommand has ``--help``. Errors the user can fix (unknown names, missing data, bad
checkpoints, bad shapes) print one line naming the fix, not a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_kw(items: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--model-kw expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_value(value)
    return out


def _add_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed for init, data order, splits")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the data files (default: $QCLF_DATA_DIR, ~/.cache/qclf/data)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on a stratified subset of N training images")


def _cmd_train(args: argparse.Namespace) -> int:
    from qclf.train import TrainConfig, fit

    out = args.out or f"runs/{args.model}-{args.dataset}-s{args.seed}"
    cfg = TrainConfig(
        model=args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, optimizer=args.optimizer,
        scheduler=args.scheduler, label_smoothing=args.label_smoothing, seed=args.seed,
        device=args.device, data_dir=args.data_dir, limit=args.limit, eval_limit=args.eval_limit,
        model_kw=_parse_kw(args.model_kw), out=out, resume=args.resume,
        overwrite=args.overwrite, progress=not args.no_progress,
    )
    m = fit(cfg).metrics
    p = m["params"]
    print(f"{m['model']} on {m['dataset']} (seed {m['seed']}): test accuracy "
          f"{m['test_accuracy']:.4f}, params {p['total']} ({p['quantum']} quantum), "
          f"{m['seconds_per_epoch']:.1f} s/epoch -> {out}/metrics.json")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from qclf.demo import run_demo

    run_demo(out=Path(args.out), epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]]
    if args.what == "models":
        from qclf.models import list_models, model_info

        rows = [model_info(n) for n in list_models(args.pattern)]
        cols = ["name", "paper", "kind", "twin", "summary"]
    elif args.what == "datasets":
        from qclf.data import dataset_info, list_datasets

        rows = []
        for n in list_datasets(args.pattern):
            info = dataset_info(n)
            rows.append({"name": n, "classes": info.num_classes,
                         "shape": "x".join(map(str, info.input_shape)),
                         "source": getattr(info, "source", "")})
        cols = ["name", "classes", "shape", "source"]
    else:
        from qclf import circuits

        rows = [r for r in circuits.describe() if _match(r["name"], args.pattern)]
        cols = list(rows[0]) if rows else ["name"]
    _print_table(rows, cols)
    return 0


def _match(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatch(name, pattern)


def _print_table(rows: list[dict[str, Any]], cols: list[str]) -> None:
    cells = [[str(r.get(c, "") if r.get(c) is not None else "") for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


#: modules with an ``add_commands(subparsers)`` function, one per feature area
COMMAND_MODULES: list[str] = [
    "qclf.bench.commands",  # bench, report
    "qclf.backends.commands",  # evaluate, submit, jobs
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qclf", description="Hybrid quantum-classical image classification.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="train a hybrid model and its classical twin on digits",
                       description="Train hqnn_parallel and classical_parallel on scikit-learn's "
                       "digits (CPU, a few minutes) and print the comparison table.")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("train", help="train one model on one data set",
                       description="Train a registered model on a registered data set with the "
                       "shared loop; writes OUT/metrics.json, history.csv, plots, checkpoint.pt.")
    p.add_argument("--model", required=True, help="registered model name (qclf list models)")
    p.add_argument("--dataset", default="digits", help="data set name (qclf list datasets)")
    _add_train_options(p)
    p.add_argument("--eval-limit", type=int, default=None,
                   help="evaluate on stratified subsets of N validation/test images")
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--scheduler", default=None, choices=["onecycle", "cosine"])
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--model-kw", action="append", metavar="KEY=VALUE",
                   help="builder option, repeatable (values parsed as JSON), e.g. depth=2")
    p.add_argument("--out", default=None, help="run folder (default runs/MODEL-DATASET-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("list", help="list registered models, datasets or circuits",
                       description="List a registry.")
    p.add_argument("what", choices=["models", "datasets", "circuits"])
    p.add_argument("pattern", nargs="?", default="*", help="glob filter, e.g. 'hqnn*'")
    p.set_defaults(func=_cmd_list)

    import importlib

    for module in COMMAND_MODULES:  # each feature adds its own subcommands
        importlib.import_module(module).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("qclf: interrupted (the last finished epoch is in the checkpoint; --resume "
              "continues)", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, KeyError, TypeError, RuntimeError) as exc:
        if args.debug:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"qclf: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

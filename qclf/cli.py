"""The ``qclf`` command line: a thin layer that wires registries, the loop and reports together.

Every subcommand has ``--help``. Errors the user can fix (unknown names, missing data, bad
checkpoints, bad shapes) print one line naming the fix, not a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn


class QclfArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors that name the flag and point at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"qclf: error: {message} (see '{self.prog} --help')\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default in ``--help``."""


def int_at_least(flag: str, minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``; the error names ``flag`` and the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expects an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = flag  # argparse names the type in some messages
    return parse


def positive_float(flag: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expects a number, got {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
        return value

    parse.__name__ = flag
    return parse


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


def add_data_options(p: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--download``, shared by train and bench."""
    p.add_argument("--data-dir", default=None,
                   help="folder with the data files (default: $QCLF_DATA, else ./data)")
    p.add_argument("--download", action="store_true",
                   help="fetch missing data files with torchvision/medmnist into the data dir "
                   "(needs pip install 'qclf[data]' and a network)")


def add_device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when torch sees one, else CPU), cpu, cuda or cuda:N")


def _add_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int_at_least("--epochs", 1), default=10,
                   help="training epochs")
    p.add_argument("--batch-size", type=int_at_least("--batch-size", 1), default=64,
                   help="batch size")
    p.add_argument("--lr", type=positive_float("--lr"), default=1e-3, help="learning rate")
    p.add_argument("--seed", type=int_at_least("--seed", 0), default=0,
                   help="seed for init, data order, splits")
    add_device_option(p)
    add_data_options(p)
    p.add_argument("--limit", type=int_at_least("--limit", 1), default=None,
                   help="train on a stratified subset of N training images")


def announce_device(device: str) -> None:
    """Print which device ``--device`` resolved to, before any work starts."""
    import torch

    from qclf.train.loop import resolve_device

    dev = resolve_device(device)
    why = ""
    if device == "auto":
        why = " (auto: CUDA device found)" if dev.type == "cuda" else " (auto: no CUDA device)"
    print(f"qclf: device {dev}{why}, torch {torch.__version__}", file=sys.stderr)


def _cmd_train(args: argparse.Namespace) -> int:
    from qclf.data import canonical_name
    from qclf.train import TrainConfig, fit

    dataset = canonical_name(args.dataset)  # recorded as `qclf list datasets` shows it
    out = args.out or f"runs/{args.model}-{dataset}-s{args.seed}"
    cfg = TrainConfig(
        model=args.model, dataset=dataset, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, optimizer=args.optimizer,
        scheduler=args.scheduler, label_smoothing=args.label_smoothing, seed=args.seed,
        device=args.device, data_dir=args.data_dir, limit=args.limit, eval_limit=args.eval_limit,
        model_kw=_parse_kw(args.model_kw), out=out, resume=args.resume,
        overwrite=args.overwrite, progress=not args.no_progress, download=args.download,
    )
    m = fit(cfg).metrics
    p = m["params"]
    print(f"{m['model']} on {m['dataset']} (seed {m['seed']}): test accuracy "
          f"{m['test_accuracy']:.4f}, params {p['total']} ({p['quantum']} quantum), "
          f"{m['seconds_per_epoch']:.1f} s/epoch -> {out}/metrics.json")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from qclf.demo import run_demo

    run_demo(out=Path(args.out), epochs=args.epochs, seed=args.seed, progress=not args.no_progress,
             overwrite=args.overwrite)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]]
    if args.what == "models":
        from qclf.models import list_models, model_info

        rows = [model_info(n) for n in list_models() if _match(n, args.pattern)]
        cols = ["name", "paper", "kind", "twin", "summary"]
    elif args.what == "datasets":
        from qclf.data import dataset_info, list_datasets

        rows = []
        for n in (n for n in list_datasets() if _match(n, args.pattern)):
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
    """A glob (``hqnn*``) if the pattern has glob characters, else a substring (``hqnn``)."""
    import fnmatch

    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatch(name, pattern)
    return pattern.lower() in name.lower()


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


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts (``qclf train ... --debug`` as well as ``qclf --debug``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = QclfArgumentParser(
        prog="qclf", description="Hybrid quantum-classical image classification.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=QclfArgumentParser)
    sub.add_parser = functools.partial(  # type: ignore[method-assign]
        sub.add_parser, parents=[common_options()], formatter_class=_HelpFormatter)

    from qclf.demo import DEMO_EPOCHS

    p = sub.add_parser("demo", help="train a hybrid model and its classical twin on digits",
                       description="Train hqnn_parallel and classical_parallel on scikit-learn's "
                       f"digits ({DEMO_EPOCHS} epochs each, CPU; see README for the measured "
                       "time) and print the comparison table.")
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--epochs", type=int_at_least("--epochs", 1), default=None,
                   help=f"epochs per model (default {DEMO_EPOCHS})")
    p.add_argument("--seed", type=int_at_least("--seed", 0), default=0, help="seed")
    p.add_argument("--overwrite", action="store_true",
                   help="move an earlier demo in --out to OUT/.previous-<timestamp>/ first")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("train", help="train one model on one data set",
                       description="Train a registered model on a registered data set with the "
                       "shared loop; writes OUT/metrics.json, history.csv, plots, checkpoint.pt.")
    p.add_argument("--model", required=True, help="registered model name (qclf list models)")
    p.add_argument("--dataset", default="digits", help="data set name (qclf list datasets)")
    _add_train_options(p)
    p.add_argument("--eval-limit", type=int_at_least("--eval-limit", 1), default=None,
                   help="evaluate on stratified subsets of N validation/test images")
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"],
                   help="optimiser")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay")
    p.add_argument("--scheduler", default=None, choices=["onecycle", "cosine"],
                   help="learning-rate schedule (default none)")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing")
    p.add_argument("--model-kw", action="append", metavar="KEY=VALUE",
                   help="builder option, repeatable (values parsed as JSON), e.g. depth=2")
    p.add_argument("--out", default=None, help="run folder (default runs/MODEL-DATASET-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="move a run already in --out to OUT/.previous-<timestamp>/ and start again")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("list", help="list registered models, datasets or circuits",
                       description="List a registry.")
    p.add_argument("what", choices=["models", "datasets", "circuits"])
    p.add_argument("pattern", nargs="?", default="*",
                   help="substring (hqnn) or glob (hqnn_*) filter")
    p.set_defaults(func=_cmd_list)

    import importlib

    for module in COMMAND_MODULES:  # each feature adds its own subcommands
        importlib.import_module(module).add_commands(sub)
    return parser


def _interrupted(args: argparse.Namespace) -> str:
    """What a Ctrl-C left behind, as far as this command can tell."""
    if args.command == "train":
        out = Path(args.out or f"runs/{args.model}-{args.dataset}-s{args.seed}")
        if (out / "checkpoint.pt").exists():
            return (f"the last finished epoch is in {out}/checkpoint.pt; rerun with --resume "
                    "to continue")
        return "no epoch had finished, so nothing was saved; rerun the same command to start"
    if args.command == "bench":
        return "finished runs are kept; rerun the same command to continue the others"
    return "nothing finished was lost; rerun the command"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from qclf.errors import QclfWarning

    if issubclass(category, QclfWarning):
        print(f"qclf: warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    from qclf.errors import cli_wording

    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        with cli_wording():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"qclf: interrupted ({_interrupted(args)})", file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError, TypeError, RuntimeError) as exc:
        if args.debug:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in str(msg):
            msg = f"{exc.filename}: {exc.strerror or msg}"
        print(f"qclf: error: {msg}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = _default_showwarning


if __name__ == "__main__":
    sys.exit(main())

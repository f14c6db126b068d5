"""The one training loop every qclf model goes through.

Hybrid and classical models share it line for line, so a comparison differs only in the model.
Each epoch ends with validation and an atomic checkpoint; ``resume=True`` continues a killed run
to exactly the result an uninterrupted run gives (same data order, RNG, optimiser state).
"""

from __future__ import annotations

import contextlib
import logging
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from qclf.errors import option, warn
from qclf.evaluate import Evaluation, check_finite, evaluate
from qclf.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from qclf.train.config import TrainConfig
from qclf.train.seeding import epoch_generator, rng_state, seed_everything, set_rng_state

log = logging.getLogger("qclf.train")

CHECKPOINT = "checkpoint.pt"
#: every file ``fit`` writes in its run folder (the output policy refuses to replace them)
RUN_OUTPUTS = (CHECKPOINT, "metrics.json", "history.csv", "learning_curves.png",
               "confusion_matrix.png", "run.json")


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class RunResult:
    metrics: dict[str, Any]
    model: nn.Module
    test: Evaluation
    out: Path | None


def batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split an epoch's order into batches; a last batch of one joins the one before it.

    BatchNorm cannot train on a single sample, and dropping it would lose data silently.
    """
    parts = list(order.split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when torch sees a GPU, else CPU; ``cuda:N`` must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"{option('device')} {name!r} is not a device; use auto, cpu, cuda "
                         "or cuda:N") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{option('device')} {name} was asked for but torch sees no CUDA "
                             f"device; use {option('device')} cpu (or auto)")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{option('device')} {name}: torch sees {count} CUDA device(s) "
                             f"(cuda:0..cuda:{count - 1})")
    return dev


def _interactive() -> bool:
    """Live bars only on a terminal; a redirected log gets one line per epoch instead."""
    return sys.stderr.isatty()


def _eta(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _check_subset(cfg: TrainConfig, train_set, num_classes: int) -> None:
    """Warn (not fail) when a training subset cannot represent every class."""
    n = len(train_set)
    present = int(torch.unique(torch.as_tensor(train_set.labels)).numel())
    where = f" ({option('limit')} {cfg.limit})" if cfg.limit is not None else ""
    if n < num_classes:
        warn(f"only {n} training images{where} for {num_classes} classes: some classes cannot "
             "be learnt at all")
    elif present < num_classes:
        warn(f"the training subset{where} has images of {present} of {num_classes} classes; "
             "the others cannot be learnt")


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def build_scheduler(cfg: TrainConfig, opt, steps_per_epoch: int):
    if cfg.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    return None


def reset_peak_memory(device: torch.device) -> None:
    """Start the peak-memory counter afresh so it measures this run, not the whole process."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    # Linux: "5" resets the process's peak resident set size (VmHWM) to its current size.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:  # VmHWM honours the reset above; ru_maxrss does not
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        pass
    # ru_maxrss is KiB on Linux, bytes on macOS: the process's peak resident memory.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def fit(cfg: TrainConfig, *, model: nn.Module | None = None, data: dict | None = None
        ) -> RunResult:
    """Train ``cfg.model`` on ``cfg.dataset``; write checkpoints and results under ``cfg.out``.

    ``model`` and ``data`` (``{"train", "val", "test"}`` data sets) may be passed in to train
    something not in the registries; otherwise both are built by name from the config.
    """
    # Imported here: the loop must not pull every model family in at import time.
    from qclf.data import load_dataset
    from qclf.layers import count_parameters
    from qclf.models import create_model
    from qclf.results import write_run
    from qclf.results.run_dir import prepare_run_dir

    device = resolve_device(cfg.device)
    out = cfg.out_path
    ckpt_path = out / CHECKPOINT if out else None
    if cfg.resume and ckpt_path is None:
        raise CheckpointError(f"{option('resume', True)} needs {option('out')} pointing at the "
                              "run folder to continue")
    if out is not None:  # before any data is loaded or any epoch is trained
        prepare_run_dir(out, RUN_OUTPUTS, resume=cfg.resume, overwrite=cfg.overwrite)
    payload = load_checkpoint(ckpt_path, cfg.fingerprint()) if cfg.resume else None
    if cfg.progress:
        auto = (" (auto: CUDA device found)" if device.type == "cuda" else
                " (auto: no CUDA device)") if cfg.device == "auto" else ""
        print(f"qclf: {cfg.model} on {cfg.dataset}, seed {cfg.seed}, device {device}{auto}",
              file=sys.stderr, flush=True)
    if payload is not None and int(payload["epoch"]) > cfg.epochs:
        raise CheckpointError(
            f"{out} was already trained for {payload['epoch']} epochs; {option('epochs')} "
            f"{cfg.epochs} cannot shorten it. Pass {option('epochs')} {payload['epoch']} or more "
            f"to continue it, or another {option('out')} for a shorter run")
    if cfg.lr > 1:
        warn(f"{option('lr')} {cfg.lr:g} is above 1: training usually diverges there "
             "(typical Adam rates are 1e-4 to 1e-2)")

    if data is None:
        if cfg.progress:
            print(f"qclf: loading {cfg.dataset} (train, val, test)...", file=sys.stderr,
                  flush=True)
        data = {split: load_dataset(cfg.dataset, split, data_dir=cfg.data_dir,
                                    limit=cfg.limit if split == "train" else cfg.eval_limit,
                                    seed=cfg.seed, download=cfg.download)
                for split in ("train", "val", "test")}
    info = data["train"].info
    _check_subset(cfg, data["train"], info.num_classes)
    seed_everything(cfg.seed)
    if model is None:
        model = create_model(cfg.model, num_classes=info.num_classes,
                             input_shape=tuple(info.input_shape), **cfg.model_kw)
    model = model.to(device)
    if payload is None and hasattr(model, "prepare_fit"):
        # A pre-training stage (S6's autoencoder, a PCA) fills weights/buffers from the training
        # data before the loop. It must not change which parameters require grad: a resumed run
        # skips it (the checkpoint holds its result) and must build the same optimiser.
        model.prepare_fit(train_set=data["train"], device=device, seed=cfg.seed,
                          progress=cfg.progress)
    params = count_parameters(model)

    train_set = data["train"]
    steps = len(batches(torch.arange(len(train_set)), cfg.batch_size))
    opt = build_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    sched = build_scheduler(cfg, opt, steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    history: list[dict[str, Any]] = []
    start_epoch = 0
    if payload is not None:
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        if sched is not None and payload.get("scheduler") is not None:
            sched.load_state_dict(payload["scheduler"])
        set_rng_state(payload["rng"])
        history = list(payload["history"])
        start_epoch = int(payload["epoch"])
        log.info("resumed %s from epoch %d", ckpt_path, start_epoch)
    reset_peak_memory(device)

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_set), generator=epoch_generator(cfg.seed, epoch))
        total, correct, seen = 0.0, 0, 0
        bar = tqdm(batches(order, cfg.batch_size), leave=False, dynamic_ncols=True,
                   desc=f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}",
                   disable=not (cfg.progress and _interactive()))
        for step, idx in enumerate(bar):
            x, y = train_set[idx]
            check_finite(x, f"training batch {step} of epoch {epoch + 1}")
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"loss became {float(loss)} at epoch {epoch + 1}, step {step}; the last good "
                    f"checkpoint is kept{f' in {out}' if out else ''}. Lower --lr and --resume "
                    "or restart."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        train_seconds = time.perf_counter() - t0
        val = evaluate(model, data["val"], info.num_classes, device=device,
                       progress=cfg.progress and _interactive(), desc="validation")
        record = {
            "epoch": epoch + 1,
            "train_loss": total / seen,
            "train_accuracy": correct / seen,
            "val_loss": val.loss,
            "val_accuracy": val.accuracy,
            "lr": opt.param_groups[0]["lr"],
            "seconds": train_seconds,
        }
        history.append(record)
        if cfg.progress:
            recent = [r["seconds"] for r in history[1:]] or [train_seconds]  # no warm-up
            eta = _eta(sum(recent) / len(recent) * (cfg.epochs - epoch - 1))
            tqdm.write(f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}: "
                       f"loss {record['train_loss']:.4f}  val acc {val.accuracy:.4f}  "
                       f"({train_seconds:.1f}s, ETA {eta})", file=sys.stderr)
        if ckpt_path is not None:
            save_checkpoint(ckpt_path, {
                "fingerprint": cfg.fingerprint(), "config": cfg.to_dict(), "epoch": epoch + 1,
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "rng": rng_state(), "history": history,
            })

    model.zero_grad(set_to_none=True)
    if cfg.progress and not _interactive() and len(data["test"]) >= 2000:
        print(f"qclf: evaluating {cfg.model} on {len(data['test']):,} test images...",
              file=sys.stderr, flush=True)
    test = evaluate(model, data["test"], info.num_classes, device=device,
                    progress=cfg.progress and _interactive(), desc="test")
    seconds = [r["seconds"] for r in history]
    best = max(history, key=lambda r: r["val_accuracy"])
    metrics = {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "test_accuracy": test.accuracy,
        "test_loss": test.loss,
        "train_loss": history[-1]["train_loss"],
        "val_accuracy": history[-1]["val_accuracy"],
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["val_accuracy"],
        "epochs": cfg.epochs,
        "params": params,
        # the first epoch pays one-off costs (compiling circuits, allocator warm-up): it is
        # reported apart and left out of the per-epoch mean whenever there are later epochs
        "seconds_per_epoch": sum(seconds[1:]) / (len(seconds) - 1) if len(seconds) > 1
        else seconds[0],
        "seconds_first_epoch": seconds[0],
        "peak_memory_mb": peak_memory_mb(device),
        "device": str(device),
        "n_train": len(train_set),
        "n_val": len(data["val"]),
        "n_test": len(data["test"]),
        "class_names": list(info.class_names),
        "confusion": test.confusion.tolist(),
        "history": history,
        "config": cfg.to_dict(),
    }
    if out is not None:
        write_run(out, metrics)
    return RunResult(metrics=metrics, model=model, test=test, out=out)

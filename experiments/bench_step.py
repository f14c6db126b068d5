"""Training-step cost of hybrid models against their classical twins (issue 8 protocol).

One step = forward, cross-entropy, backward and an Adam update on a batch of 1x28x28 images
(10 classes), one torch thread, float32. Hybrid and twin run in one process, interleaved, median
of 3 rounds after a warm-up (each round times ``--steps`` steps); reported as hybrid / twin for
wall and process CPU time (the fair figure on a shared machine). Targets (issue 8):
``hqnn_parallel`` <= 1.3x its twin, ``hqnn_quanv`` <= 2x.

    nice python experiments/bench_step.py                 # both pairs, batch 64
    nice python experiments/bench_step.py --batch 128 --steps 5
    nice python experiments/bench_step.py --data mnist --data-dir ../shared/data

``--data random`` (default) uses uniform random pixels, the issue's protocol: no patch is blank,
so ``Quanv2d``'s sharing of blank patches never applies. ``--data mnist`` (or any registered
28x28 grey data set) times the first ``--batch`` training images instead, as a training run
sees them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine import fair_compare, print_header  # noqa: E402

import qclf  # noqa: E402

PAIRS = [("hqnn_parallel", "classical_parallel"), ("hqnn_quanv", "classical_quanv")]


def _stepper(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()

    return run


def _batch(data: str, data_dir: str | None, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    if data == "random":
        gen = torch.Generator().manual_seed(0)
        return (torch.rand(batch, 1, 28, 28, generator=gen),
                torch.randint(0, 10, (batch,), generator=gen))  # fmt: skip
    ds = qclf.load_dataset(data, "train", data_dir=data_dir)
    x, y = ds[torch.arange(batch)]
    if tuple(x.shape[1:]) != (1, 28, 28) or int(y.max()) >= 10:
        raise SystemExit(f"--data {data}: need 1x28x28 images in 10 classes, got "
                         f"{tuple(x.shape[1:])} and labels up to {int(y.max())}")
    return x, y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="steps per timed round")
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    ap.add_argument("--data", default="random", help="'random' pixels or a 28x28 data set name")
    ap.add_argument("--data-dir", help="where the data set's files are (qclf.load_dataset)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print_header("qclf training-step benchmark",
                 f"batch {args.batch}, {args.steps} steps per round, data {args.data}")  # fmt: skip
    x, y = _batch(args.data, args.data_dir, args.batch)
    rows = []
    for hybrid, twin in PAIRS:
        torch.manual_seed(0)
        h = qclf.create_model(hybrid, num_classes=10, input_shape=(1, 28, 28))
        c = qclf.create_model(twin, num_classes=10, input_shape=(1, 28, 28))
        r = fair_compare(_stepper(c, x, y, args.steps), _stepper(h, x, y, args.steps))
        row = {"hybrid": hybrid, "twin": twin, "batch": args.batch,
               "hybrid_ms_per_step": r["new_wall_s"] / args.steps * 1e3,
               "twin_ms_per_step": r["ref_wall_s"] / args.steps * 1e3,
               "hybrid_cpu_ms_per_step": r["new_cpu_s"] / args.steps * 1e3,
               "twin_cpu_ms_per_step": r["ref_cpu_s"] / args.steps * 1e3,
               "wall_ratio": r["new_wall_s"] / r["ref_wall_s"],
               "cpu_ratio": r["new_cpu_s"] / r["ref_cpu_s"],
               "hybrid_peak_mib": r["new_peak_mib"],
               "twin_peak_mib": r["ref_peak_mib"]}  # fmt: skip
        rows.append(row)
    print("\n| hybrid / twin | batch | hybrid [ms/step] | twin [ms/step] | hybrid / twin (wall) "
          "| hybrid / twin (CPU) | peak MiB hybrid / twin |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['hybrid']} / {r['twin']} | {r['batch']} | {r['hybrid_ms_per_step']:.1f} | "
              f"{r['twin_ms_per_step']:.1f} | {r['wall_ratio']:.2f}x | {r['cpu_ratio']:.2f}x | "
              f"{r['hybrid_peak_mib']:.0f} / {r['twin_peak_mib']:.0f} |")  # fmt: skip
    print("\nmedian of 3 interleaved rounds after a warm-up; CPU ratio from process CPU seconds.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

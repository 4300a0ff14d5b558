"""Training throughput: dlbn.train.train vs a plain DataLoader loop, same model and data.

Usage::

    python benchmarks/train_throughput.py                      # MNIST-1D, CPU, 3 epochs
    python benchmarks/train_throughput.py --device cuda --epochs 5 --batch-sizes 32 128

For each net (``--nets``, depth x width of dlbn.models.ConvNet with BN: 4x8 is the size the
grader trains, 8x32 the chapters' `dlbn run` size), each batch size and each augmentation
setting, both loops train a fresh copy of the same net (same seed) for the same number of
epochs on the same data (MNIST-1D from dlbn.data when it loads, otherwise random tensors of
the same shape). The plain loop is the tutorial one: ``DataLoader(TensorDataset(x, y),
shuffle=True)``, ``.to(device)`` per batch, ``loss.item()`` and accuracy ``.item()`` per step;
with ``shift`` augmentation its Dataset shifts each example as it is fetched (the torchvision
``transform`` pattern). The bench keeps the data on the device, shuffles with one
``randperm`` per epoch, slices batches, augments the whole shuffled set in one call
(``dlbn.augment.random_shift``, the same shift) and syncs with the host once per epoch.

Timings on shared machines swing by 30-50%: each loop runs ``--repeats`` times, interleaved,
and the table shows the best wall time and, beside it, the CPU time of this process (which a
busy machine disturbs much less). The gap is largest where a step is cheap (small nets and
batches, per-example augmentation, fast accelerators) and smallest where the model's own
compute dominates. Writes benchmarks/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from dlbn.augment import random_shift
from dlbn.models import ModelConfig, build_model
from dlbn.train import TrainConfig, resolve_device, train

RESULTS = Path(__file__).resolve().parent / "results" / "train_throughput.json"
MAX_SHIFT = 3


@dataclass(frozen=True)
class Timing:
    wall_s: float  # best wall-clock seconds over the repeats
    cpu_s: float  # process CPU seconds of that same repeat


def load_data() -> tuple[Tensor, Tensor, str]:
    """MNIST-1D's training split (4000, 1, 40), (4000,), or random tensors of that shape."""
    try:
        from dlbn.data import load_mnist1d

        splits = load_mnist1d()
        return splits.x_train, splits.y_train, "MNIST-1D"
    except Exception as exc:  # no data layer or no cache: the timing does not care
        print(f"(MNIST-1D unavailable: {exc}; using random data of the same shape)")
        g = torch.Generator().manual_seed(0)
        return (
            torch.randn(4000, 1, 40, generator=g),
            torch.randint(0, 10, (4000,), generator=g),
            "random",
        )


class ShiftedDataset(Dataset):
    """The tutorial way to augment: each example shifted as it is fetched, (C, L) -> (C, L)."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y
        self.generator = torch.Generator().manual_seed(0)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return random_shift(self.x[i : i + 1], self.generator, max_shift=MAX_SHIFT)[0], self.y[i]


def plain_loop(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, augment: bool) -> None:
    """The tutorial loop: a DataLoader over CPU tensors, per-step host syncs."""
    device = resolve_device(cfg.device)
    model.to(device)
    dataset = ShiftedDataset(x, y) if augment else TensorDataset(x, y)
    loader = DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=True, drop_last=cfg.drop_last
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    for _ in range(cfg.epochs):
        model.train()
        total_loss, correct = 0.0, 0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
            correct += (logits.argmax(dim=1) == yb).sum().item()


def bench_loop(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, augment: bool) -> None:
    shift = partial(random_shift, max_shift=MAX_SHIFT) if augment else None
    train(model, (x, y), cfg, augment=shift, progress=False)


def time_it(fn: Callable[[], None], device: torch.device) -> Timing:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def measure(model_cfg: ModelConfig, x: Tensor, y: Tensor, bs: int, augment: bool,
            args: argparse.Namespace, device: torch.device) -> dict[str, Timing]:
    """Best-of-``repeats`` timings of both loops, interleaved, after a warm-up of each."""
    loops = {"DataLoader loop": plain_loop, "dlbn bench": bench_loop}
    cfg = TrainConfig(epochs=args.epochs, batch_size=bs, lr=0.05, device=str(device), eval_every=0)
    warm = TrainConfig(epochs=1, batch_size=bs, device=str(device))  # allocator, kernels
    for loop in loops.values():
        loop(build_model(model_cfg), x[: 8 * bs], y[: 8 * bs], warm, augment)
    best: dict[str, Timing] = {}
    for _ in range(args.repeats):
        for name, loop in loops.items():
            torch.manual_seed(0)
            model = build_model(model_cfg)
            t = time_it(partial(loop, model, x, y, cfg, augment), device)
            if name not in best or t.wall_s < best[name].wall_s:
                best[name] = t
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed run")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--nets", nargs="+", default=["4x8", "8x32"],
                        help="DEPTHxWIDTH of the BN conv nets (4x8: grading, 8x32: chapters)")
    parser.add_argument("--augment", nargs="+", choices=("none", "shift"),
                        default=["none", "shift"], help="augmentation settings to time")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per loop; best wins")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    x, y, source = load_data()
    print(f"data {source} {tuple(x.shape)}, BN conv nets, device {device}, "
          f"{torch.get_num_threads()} threads, {args.epochs} epochs per run")
    header = (f"{'net':>5} {'aug':>5} {'batch':>5}  {'loop':<16} {'samples/s':>10} "
              f"{'per CPU-s':>10} {'x wall':>7} {'x CPU':>6}")
    print(header)
    print("-" * len(header))
    rows = []
    for net in args.nets:
        depth, width = (int(v) for v in net.lower().split("x"))
        model_cfg = ModelConfig(depth=depth, width=width, norm="batch")
        for augment in args.augment:
            for bs in args.batch_sizes:
                best = measure(model_cfg, x, y, bs, augment == "shift", args, device)
                n_samples = args.epochs * (len(x) // bs) * bs
                base = best["DataLoader loop"]
                for name, t in best.items():
                    row = {"net": net, "augment": augment, "batch": bs, "loop": name,
                           "samples_per_s": round(n_samples / t.wall_s),
                           "samples_per_cpu_s": round(n_samples / max(t.cpu_s, 1e-9)),
                           "speedup_wall": round(base.wall_s / t.wall_s, 2),
                           "speedup_cpu": round(base.cpu_s / max(t.cpu_s, 1e-9), 2)}
                    rows.append(row)
                    print(f"{net:>5} {augment:>5} {bs:>5}  {name:<16} "
                          f"{row['samples_per_s']:>10} {row['samples_per_cpu_s']:>10} "
                          f"{row['speedup_wall']:>7.2f} {row['speedup_cpu']:>6.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": platform.platform(), "data": source, "epochs": args.epochs, "rows": rows,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()

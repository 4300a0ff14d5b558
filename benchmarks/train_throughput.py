"""Training throughput: dlbn.train.train vs a plain DataLoader loop, same model and data.

Usage::

    python benchmarks/train_throughput.py                      # MNIST-1D, CPU, 3 epochs
    python benchmarks/train_throughput.py --device cuda --epochs 5 --batch-sizes 32 128

For each batch size both loops train a fresh copy of the same net (same seed) for the same
number of epochs on the same data (MNIST-1D from dlbn.data when it loads, otherwise random
tensors of the same shape). The plain loop is the tutorial one: ``DataLoader(TensorDataset(
x, y), shuffle=True)``, ``.to(device)`` per batch, ``loss.item()`` and accuracy ``.item()``
per step. The bench keeps the data on the device, shuffles with one ``randperm`` per epoch,
slices batches, and syncs with the host once per epoch.

Timings on shared machines swing by 30-50%: each loop runs ``--repeats`` times, interleaved,
and the table shows the best wall time and, beside it, the CPU time of this process (which a
busy machine disturbs much less). The gap is largest where a step is cheap (small nets and
batches, fast accelerators) and smallest where the model's own compute dominates.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from dlbn.models import ModelConfig, build_model
from dlbn.train import TrainConfig, resolve_device, train


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


def plain_loop(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> None:
    """The tutorial loop: a DataLoader over CPU tensors, per-step host syncs."""
    device = resolve_device(cfg.device)
    model.to(device)
    loader = DataLoader(
        TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True, drop_last=cfg.drop_last
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


def bench_loop(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> None:
    train(model, (x, y), cfg, progress=False)


def time_it(fn: Callable[[], None], device: torch.device) -> Timing:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed run")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per loop; best wins")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    x, y, source = load_data()
    model_cfg = ModelConfig(depth=args.depth, width=args.width, norm="batch")
    print(
        f"data {source} {tuple(x.shape)}, net {args.depth}x{args.width} BN conv, "
        f"device {device}, {torch.get_num_threads()} threads, {args.epochs} epochs per run"
    )

    loops = {"DataLoader loop": plain_loop, "dlbn bench": bench_loop}
    rows = []
    for bs in args.batch_sizes:
        cfg = TrainConfig(
            epochs=args.epochs, batch_size=bs, lr=0.05, device=str(device), eval_every=0
        )
        n_samples = args.epochs * (len(x) // bs) * bs
        # warm-up: first calls pay for allocator and kernel selection
        warm = TrainConfig(epochs=1, batch_size=bs, device=str(device))
        for loop in loops.values():
            loop(build_model(model_cfg), x[: 8 * bs], y[: 8 * bs], warm)
        best: dict[str, Timing] = {}
        for _ in range(args.repeats):
            for name, loop in loops.items():
                torch.manual_seed(0)
                model = build_model(model_cfg)
                t = time_it(partial(loop, model, x, y, cfg), device)
                if name not in best or t.wall_s < best[name].wall_s:
                    best[name] = t
        base = best["DataLoader loop"]
        for name, t in best.items():
            rows.append(
                (
                    bs,
                    name,
                    n_samples / t.wall_s,
                    n_samples / max(t.cpu_s, 1e-9),
                    base.wall_s / t.wall_s,
                    base.cpu_s / max(t.cpu_s, 1e-9),
                )
            )

    header = (
        f"{'batch':>5}  {'loop':<16} {'samples/s':>10} {'per CPU-s':>10} {'x wall':>7} {'x CPU':>6}"
    )
    print(header)
    print("-" * len(header))
    for bs, name, sps, spc, ratio, cpu_ratio in rows:
        print(f"{bs:>5}  {name:<16} {sps:>10.0f} {spc:>10.0f} {ratio:>7.2f} {cpu_ratio:>6.2f}")


if __name__ == "__main__":
    main()

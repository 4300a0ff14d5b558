"""`dlbn run ch05`: the full LR sweep and the stress test, with and without batch norm.

    dlbn run ch05 --solution --out chapters/ch05_learning_rate/figures   # the chapter's figures
    dlbn run ch05 --seed 1                                              # your code, another seed

Small scale (default): MNIST-1D, an 8-layer width-32 1-D conv net, 6 epochs per LR with a
cosine decay, LRs 0.01 .. 3.16 on a half-decade grid, then the two stress tests, then both
nets 30 epochs at the lowest LR ("same small LR, same accuracy"); about 1.5 minutes on an
idle 2-core CPU with one thread (far longer on a shared, overloaded machine).
Paper scale (``--scale paper`` or ``--dataset cifar10``, the same thing here): the experiment
on CIFAR-10 with 2-D nets (needs `dlbn data fetch cifar10`; meant for a GPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunConfig:
    """The experiment `dlbn run ch05` performs; units in the comments."""

    dataset: str = "mnist1d"
    depth: int = 8  # conv blocks
    width: int = 32  # channels
    dims: int = 1  # 1: MNIST-1D signals, 2: CIFAR-10 images
    in_channels: int = 1
    lr_min: float = 0.01  # the sweep's grid: num_lrs LRs from lr_min to lr_max, log-spaced
    lr_max: float = 10**0.5
    num_lrs: int = 6  # half decades: 0.01, 0.032, 0.1, 0.32, 1, 3.2
    epochs: int = 6  # per sweep run, cosine decay from the swept LR to 0
    batch_size: int = 32
    momentum: float = 0.9
    target_acc: float = 0.8  # "stable" = not diverged and test accuracy >= this
    stress_lr0: float = 0.005  # Page's stress test: lr0 * factor ** epoch
    stress_factor: float = 2**0.5
    stress_epochs: int = 30  # at most (LR ~ 164 by then); the run stops where training breaks down
    long_epochs: int = 30  # "same small LR, same accuracy": both nets at lr_min, trained longer


SMALL = RunConfig()
PAPER = RunConfig(dataset="cifar10", width=64, dims=2, in_channels=3, epochs=20, target_acc=0.6,
                  batch_size=128)
DATASETS = ("mnist1d", "cifar10")  # `dlbn run ch05 --dataset ...`


def choose(scale: str, dataset: str | None) -> RunConfig:
    """SMALL for MNIST-1D, PAPER for CIFAR-10 (``--scale paper`` alone means CIFAR-10)."""
    from grader.course import UsageError

    dataset = dataset or ("cifar10" if scale == "paper" else "mnist1d")
    if dataset == "mnist1d" and scale == "paper":
        raise UsageError("ch05's paper scale is CIFAR-10: drop --dataset mnist1d")
    return PAPER if dataset == "cifar10" else SMALL


def run(module: Any, out_dir: Path, *, device: str, seed: int, scale: str,
        dataset: str | None = None) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from dlbn.data import load
    from dlbn.models import ModelConfig
    from dlbn.progress import track
    from dlbn.train import TrainConfig

    rc = choose(scale, dataset)
    data = load(rc.dataset, device=device)
    model_cfg = ModelConfig(depth=rc.depth, width=rc.width, dims=rc.dims,
                            in_channels=rc.in_channels)
    cfg = TrainConfig(epochs=rc.epochs, batch_size=rc.batch_size, momentum=rc.momentum,
                      schedule="warmup_cosine", seed=seed, eval_every=0, device=device)
    lrs = module.lr_grid(rc.lr_min, rc.lr_max, rc.num_lrs)
    steps = ["sweep", "stress none", "stress batch", "long none", "long batch"]
    out: dict[str, Any] = {}
    for step in track(steps, "ch05 experiments"):
        if step == "sweep":
            out["compare"] = module.compare_norms(data, model_cfg, lrs, cfg, rc.target_acc,
                                                  progress=None)
        elif step.startswith("long"):
            norm = step.split()[1]
            out[f"long_{norm}"] = module.lr_sweep(
                data, replace(model_cfg, norm=norm), [rc.lr_min],
                replace(cfg, epochs=rc.long_epochs), progress=None)[0]
        else:
            norm = step.split()[1]
            stress_cfg = replace(cfg, epochs=rc.stress_epochs)
            out[norm] = module.stress_test(data, replace(model_cfg, norm=norm), stress_cfg,
                                           rc.stress_lr0, rc.stress_factor, progress=None)
    out_dir = Path(out_dir)
    figures = [sweep_figure(out["compare"], rc, out_dir / "accuracy_vs_lr.png"),
               stress_figure({n: out[n] for n in ("none", "batch")}, out_dir / "stress_test.png")]
    return {"figures": figures, "numbers": numbers(out, rc)}


def numbers(out: dict[str, Any], rc: RunConfig) -> dict[str, Any]:
    comp = out["compare"]
    nums: dict[str, Any] = {"dataset": rc.dataset, "target_acc": rc.target_acc,
                            "stable_ratio": comp["stable_ratio"]}
    for norm in ("none", "batch"):
        nums[f"highest_stable_lr_{norm}"] = comp["highest_stable"][norm]
        nums[f"best_test_acc_{norm}"] = comp["best_acc"][norm]
        nums[f"test_acc_at_lowest_lr_{norm}"] = comp["acc_at_lowest"][norm]
        long = out[f"long_{norm}"]
        nums[f"test_acc_at_lowest_lr_{rc.long_epochs}_epochs_{norm}"] = (
            None if long["diverged"] else round(long["test_acc"], 4))
        nums[f"stress_blowup_lr_{norm}"] = out[norm]["blowup_lr"]
        nums[f"stress_breakdown_lr_{norm}"] = out[norm]["breakdown_lr"]
        nums[f"stress_best_train_acc_{norm}"] = out[norm]["best_train_acc"]
        nums[f"stress_best_lr_{norm}"] = out[norm]["best_lr"]
        nums[f"sweep_{norm}"] = " ".join(
            f"{r['lr']:.3g}:{'D' if r['diverged'] else ''}{r['test_acc']:.3f}"
            for r in comp["runs"][norm]
        )
    return nums


COLORS = {"none": "tab:red", "batch": "tab:blue"}
LABELS = {"none": "no BN", "batch": "BN"}


def sweep_figure(comp: dict[str, Any], rc: RunConfig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for norm in ("none", "batch"):
        recs = comp["runs"][norm]
        lrs = [r["lr"] for r in recs]
        accs = [math.nan if r["diverged"] else r["test_acc"] for r in recs]
        ax.plot(lrs, accs, "o-", color=COLORS[norm], label=LABELS[norm])
        bad = [r["lr"] for r in recs if r["diverged"]]
        ax.plot(bad, [0.02] * len(bad), "x", color=COLORS[norm], ms=9,
                label=f"{LABELS[norm]}: diverged")
        lr = comp["highest_stable"][norm]
        if lr is not None:
            ax.axvline(lr, color=COLORS[norm], ls=":", lw=1)
    ax.axhline(rc.target_acc, color="gray", ls="--", lw=1, label=f"target {rc.target_acc:g}")
    ax.set(xscale="log", xlabel="learning rate (peak of a cosine decay)", ylabel="test accuracy",
           ylim=(0, 1), title="Test accuracy vs learning rate (dotted: highest stable LR)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def stress_figure(stress: dict[str, dict[str, Any]], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 4.0))
    for norm, res in stress.items():
        c = COLORS[norm]
        acc_ax.plot(res["lr"], res["train_acc"], "o-", ms=3, color=c, label=LABELS[norm])
        loss_ax.plot(res["lr"], res["train_loss"], "o-", ms=3, color=c, label=LABELS[norm])
        if res["breakdown_lr"] is not None:
            for ax in (acc_ax, loss_ax):
                ax.axvline(res["breakdown_lr"], color=c, ls=":", lw=1)
    acc_ax.set(xscale="log", xlabel="learning rate (end of epoch)", ylabel="train accuracy",
               ylim=(0, 1), title="LR stress test: LR x sqrt(2) per epoch")
    loss_ax.set(xscale="log", yscale="log", xlabel="learning rate (end of epoch)",
                ylabel="train loss", title="dotted: LR where training broke down")
    acc_ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

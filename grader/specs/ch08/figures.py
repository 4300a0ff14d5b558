"""`dlbn run ch08`: the gap experiment on 3 seeds and the chapter's figures.

    dlbn run ch08 --solution --out chapters/ch08_regularization/figures   # ~4 CPU-minutes
    dlbn run ch08 --dataset cifar10   # CIFAR-2 (airplanes vs birds, the book's data), 2-D nets

Figures: gap_bars.png (train/val accuracy and the gap per variant, like the book's Fig 8.13,
with every seed shown), train_curves.png (eval-mode training and validation accuracy per
epoch), eval_vs_train_mode.png (validation accuracy in eval vs train mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABELS = {"baseline": "baseline", "l2": "L2 penalty", "weight_decay": "SGD\nweight_decay",
          "dropout": "dropout", "batchnorm": "batch norm"}
COLORS = {"baseline": "#555555", "l2": "#1f77b4", "weight_decay": "#17becf",
          "dropout": "#2ca02c", "batchnorm": "#d62728"}


DATASETS = ("mnist1d", "cifar10")  # `dlbn run ch08 --dataset ...`
# The book's setting: CIFAR-2 (CIFAR-10's airplanes and birds), all 10,000 training images,
# batch 64; the net is a 2-D ConvNet of our bench.
CIFAR2 = {"dataset": "cifar2", "train_size": 10000, "val_size": 2000, "depth": 4, "width": 32,
          "epochs": 100, "batch_size": 64, "lr": 0.05}


def config(module: Any, scale: str, dataset: str | None = None) -> Any:
    """The MNIST-1D default, or CIFAR-2 for ``--dataset cifar10`` / ``--scale paper``."""
    from grader.course import UsageError

    dataset = dataset or ("cifar10" if scale == "paper" else "mnist1d")
    if dataset == "mnist1d" and scale == "paper":
        raise UsageError("ch08's paper scale is CIFAR-2 (from CIFAR-10): drop --dataset mnist1d")
    return module.GapConfig(**CIFAR2) if dataset == "cifar10" else module.GapConfig()


def run(module: Any, out_dir: Path, *, device: str, seed: int, scale: str,
        dataset: str | None = None) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = config(module, scale, dataset)
    seeds = (seed, seed + 1, seed + 2)
    runs = module.gap_experiment(cfg, seeds=seeds, device=device, progress=True)
    out_dir = Path(out_dir)
    names = list(runs)
    figures = [
        bars(plt, runs, names, out_dir / "gap_bars.png", cfg),
        curves(plt, runs, names, out_dir / "train_curves.png", module),
        modes(plt, runs, names, out_dir / "eval_vs_train_mode.png"),
    ]
    return {"figures": figures, "numbers": numbers(runs, module, cfg)}


def values(rs: list[Any], key: str) -> list[float]:
    return [float(getattr(r.final, key)) for r in rs]


def numbers(runs: dict[str, list[Any]], module: Any, cfg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"train_size": cfg.train_size, "epochs": cfg.epochs,
                           "dataset": cfg.dataset}
    for name, rs in runs.items():
        for key in ("train_acc", "val_acc", "gap", "val_acc_train_mode"):
            vals = values(rs, key)
            out[f"{name}.{key}.mean"] = round(sum(vals) / len(vals), 4)
            out[f"{name}.{key}.per_seed"] = [round(v, 4) for v in vals]
        fits = [module.epochs_to_fit(r, 0.99) for r in rs]
        out[f"{name}.epochs_to_99.per_seed"] = [f if f != float("inf") else None for f in fits]
        out[f"{name}.diverged"] = any(r.diverged for r in rs)
    if {"batchnorm", "dropout", "weight_decay"} <= set(runs):
        bn = values(runs["batchnorm"], "gap")
        others = [values(runs[n], "gap") for n in ("dropout", "weight_decay", "l2") if n in runs]
        out["bn_gap_largest_on_every_seed"] = all(
            b > max(o[i] for o in others) for i, b in enumerate(bn))
    return out


def bars(plt: Any, runs: dict[str, list[Any]], names: list[str], path: Path, cfg: Any) -> str:
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.38
    for i, name in enumerate(names):
        for j, (key, alpha) in enumerate((("train_acc", 1.0), ("val_acc", 0.45))):
            vals = values(runs[name], key)
            mean = sum(vals) / len(vals)
            x = i + (j - 0.5) * width
            ax.bar(x, mean, width, color=COLORS[name], alpha=alpha,
                   yerr=[[mean - min(vals)], [max(vals) - mean]], capsize=3,
                   label=("train" if j == 0 else "validation") if i == 0 else None)
            ax.scatter([x] * len(vals), vals, s=9, color="black", zorder=3)
        gaps = values(runs[name], "gap")
        mean = sum(gaps) / len(gaps)
        ax_gap.bar(i, mean, 0.6, color=COLORS[name],
                   yerr=[[mean - min(gaps)], [max(gaps) - mean]], capsize=3)
        ax_gap.scatter([i] * len(gaps), gaps, s=9, color="black", zorder=3)
    ticks = [LABELS[n] for n in names]
    low = min(min(values(runs[n], "val_acc")) for n in names)
    ax.set(xticks=range(len(names)), ylim=(max(0.0, low - 0.1), 1.01), ylabel="accuracy",
           title=f"train (dark) and validation (light), {cfg.train_size} training examples")
    ax.set_xticks(range(len(names)), ticks, rotation=20)
    ax.legend(loc="lower left")
    ax_gap.set_xticks(range(len(names)), ticks, rotation=30, ha="right", rotation_mode="anchor")
    ax_gap.set(ylabel="train - validation accuracy",
               title="the gap (bars: mean, range; dots: seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def band(ax: Any, rs: list[Any], attr: str, color: str, label: str | None, style: str) -> None:
    epochs = rs[0].epochs
    curves = [getattr(r, attr) for r in rs if len(getattr(r, attr)) == len(epochs)]
    if not curves:
        return
    mean = [sum(c[i] for c in curves) / len(curves) for i in range(len(epochs))]
    ax.plot(epochs, mean, style, color=color, label=label)
    ax.fill_between(epochs, [min(c[i] for c in curves) for i in range(len(epochs))],
                    [max(c[i] for c in curves) for i in range(len(epochs))], color=color,
                    alpha=0.15)


def curves(plt: Any, runs: dict[str, list[Any]], names: list[str], path: Path, module: Any) -> str:
    fig, (ax_tr, ax_va) = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for name in names:
        fits = [module.epochs_to_fit(r, 0.99) for r in runs[name]]
        label = f"{LABELS[name]} (99% at epoch {', '.join(f'{f:g}' for f in fits)})"
        band(ax_tr, runs[name], "train_curve", COLORS[name], label, "-")
        band(ax_va, runs[name], "val_curve", COLORS[name], LABELS[name], "-")
    ax_tr.set(xlabel="epoch", ylabel="training accuracy (eval mode)",
              title="fitting the subset (line: mean, band: range over seeds)")
    ax_va.set(xlabel="epoch", ylabel="validation accuracy", title="validation")
    ax_tr.legend(fontsize=7, loc="lower right")
    ax_va.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def modes(plt: Any, runs: dict[str, list[Any]], names: list[str], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.38
    for i, name in enumerate(names):
        for j, (key, alpha, label) in enumerate((("val_acc", 1.0, "eval mode"),
                                                 ("val_acc_train_mode", 0.45, "train mode"))):
            vals = values(runs[name], key)
            mean = sum(vals) / len(vals)
            x = i + (j - 0.5) * width
            ax.bar(x, mean, width, color=COLORS[name], alpha=alpha,
                   label=label if i == len(names) - 1 else None)
            ax.scatter([x] * len(vals), vals, s=9, color="black", zorder=3)
    low = min(min(values(runs[n], "val_acc_train_mode")) for n in names)
    ax.set_xticks(range(len(names)), [LABELS[n] for n in names], rotation=20)
    ax.set(ylim=(max(0.0, low - 0.1), 1.0), ylabel="validation accuracy",
           title="the move from training to eval: eval mode (dark) vs train mode (light)")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)

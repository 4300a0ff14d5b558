"""ch04 figures: Bjorck Fig. 3 (relative loss vs step size) and Santurkar Fig. 4 (loss range,
gradient predictiveness, effective beta-smoothness over training).

    dlbn run ch04 --solution --out chapters/ch04_loss_landscape/figures

Three seeds (``seed``, ``seed + 1``, ``seed + 2``) on MNIST-1D; a few minutes on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any

COLORS = {"standard": "tab:gray", "batch": "tab:blue"}
LABELS = {"standard": "standard", "batch": "batch norm"}
MEASURES = (("loss_range", "loss range along the gradient"),
            ("max_grad_change", "gradient predictiveness: max ||g_eta - g||"),
            ("beta", "effective beta-smoothness"))


def _config(scale: str) -> dict[str, Any]:
    paper = scale == "paper"
    return {"resnet_blocks": 54 if paper else 16, "batches": 3,
            "n_train": 4000 if paper else 2000, "epochs": 4, "depth": 8,
            "width": 32 if paper else 16, "lr": 0.05, "every": 20,
            "steps": (0.05, 0.1, 0.2, 0.4),
            "grid": tuple(10 ** (k / 4) for k in range(-20, 5))}  # 1e-5 .. 10


def run(module: Any, out_dir: Path, *, device: str, seed: int, scale: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from dlbn.data import load_mnist1d
    from dlbn.models import ModelConfig
    from dlbn.progress import track
    from dlbn.resnet import preact_resnet
    from dlbn.train import TrainConfig
    from grader.specs.ch04.checks_landscape import useful_step

    c = _config(scale)
    d = load_mnist1d(device)
    seeds = [seed, seed + 1, seed + 2]
    numbers: dict[str, Any] = {}

    curves: dict[tuple[int, str, int], list[float]] = {}
    for s, kind in track([(s, k) for s in seeds for k in COLORS], "ch04 Bjorck Fig. 3"):
        torch.manual_seed(s)
        net = preact_resnet(c["resnet_blocks"], width=16,
                            norm="none" if kind == "standard" else "batch").to(device)
        for b in range(c["batches"]):
            x, y = d.x_train[32 * b: 32 * (b + 1)], d.y_train[32 * b: 32 * (b + 1)]
            curves[(s, kind, b)] = module.loss_along_gradient(net, x, y, c["grid"]).tolist()
        half = [useful_step(_half_decades(curves[(s, kind, b)])) for b in range(c["batches"])]
        numbers[f"seed{s}/{kind}/largest_helpful_step"] = half
    figures = [_plot_bjorck(plt, curves, c, out_dir)]

    data = d.head(c["n_train"], len(d.x_test))
    mcfg = ModelConfig(depth=c["depth"], width=c["width"])
    runs: dict[tuple[int, str], Any] = {}
    for s, kind in track([(s, k) for s in seeds for k in COLORS], "ch04 Santurkar Fig. 4"):
        cfg = TrainConfig(epochs=c["epochs"], batch_size=32, lr=c["lr"], seed=s, device=device)
        out = module.landscape_during_training(kind, data, mcfg, cfg, c["steps"], every=c["every"])
        out.pop("model")
        runs[(s, kind)] = out
        for key, _ in MEASURES:
            numbers[f"seed{s}/{kind}/{key}"] = {"median": round(median(out[key]), 4),
                                                 "max": round(max(out[key]), 4)}
        numbers[f"seed{s}/{kind}/final_loss"] = round(sum(out["loss"][-50:]) / 50, 4)
    figures.append(_plot_santurkar(plt, runs, seeds, c, out_dir))
    return {"figures": figures, "numbers": numbers}


def _half_decades(ratios: list[float]) -> list[float]:
    """Quarter-decade grid -> the half-decade grid of the grading check (every other point)."""
    return ratios[::2][:13]


def _plot_bjorck(plt: Any, curves: dict, c: dict, out_dir: Path) -> Path:
    import math

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    seen = set()
    for (_seed, kind, _batch), ratios in curves.items():
        ys = [r if math.isfinite(r) else 1e12 for r in ratios]
        ax.plot(c["grid"], ys, color=COLORS[kind], alpha=0.6,
                label=None if kind in seen else LABELS[kind])
        seen.add(kind)
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    lowest = min((r for rs in curves.values() for r in rs if math.isfinite(r) and r > 0),
                 default=0.05)
    bottom = min(0.05, 10 ** math.floor(math.log10(lowest)))  # every dip stays in view
    ax.set(xscale="log", yscale="log", ylim=(bottom, 1e6), xlabel="step size eta along -gradient",
           ylabel="relative loss L(w - eta g) / L(w)",
           title=f"Bjorck Fig. 3 on MNIST-1D: ResNet, {c['resnet_blocks']} blocks, at init\n"
           f"{c['batches']} batches x 3 seeds")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    path = out_dir / "relative_loss.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_santurkar(plt: Any, runs: dict, seeds: list[int], c: dict, out_dir: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for (s, kind), out in runs.items():
        for ax, (key, _) in zip(axes, MEASURES, strict=True):
            ax.plot(out["step"], out[key], color=COLORS[kind], alpha=0.7,
                    label=LABELS[kind] if s == seeds[0] else None)
    for ax, (_, title) in zip(axes, MEASURES, strict=True):
        ax.set(title=title, xlabel="training step", yscale="log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"Santurkar Fig. 4 on MNIST-1D: {c['depth']}-layer conv net, lr {c['lr']}, "
                 f"steps eta in {c['steps']}, 3 seeds")
    fig.tight_layout()
    path = out_dir / "landscape.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

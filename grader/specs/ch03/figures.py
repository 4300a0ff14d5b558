"""ch03 figures: training of standard / BN / noisy-BN nets, activation histograms, ICS per layer.

    dlbn run ch03 --solution --out chapters/ch03_covariate_shift/figures

Three seeds (``seed``, ``seed + 1``, ``seed + 2``) on MNIST-1D (2,000 training signals);
~2 minutes of CPU time.
"""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any

KINDS = ("standard", "batch", "noisy")
COLORS = {"standard": "tab:gray", "batch": "tab:blue", "noisy": "tab:red"}
LABELS = {"standard": "standard", "batch": "batch norm", "noisy": "noisy batch norm"}
HIST_LAYERS = (1, 4)  # blocks whose norm output is histogrammed (0-based)
CHANNEL = 0


def _configs(scale: str) -> dict[str, Any]:
    paper = scale == "paper"
    return {"n_train": 4000 if paper else 2000, "epochs": 12 if paper else 4,
            "depth": 8 if paper else 6, "width": 32 if paper else 16, "lr": 0.3,
            "lr_standard": 0.05, "ics_epochs": 2 if paper else 1, "ics_every": 10}


def _recorder(x: Any, out: list[Any]) -> Any:
    """A callback storing channel CHANNEL of each HIST_LAYERS norm output on x (train mode)."""
    from dlbn.landscape import restoring

    def record(epoch: int, model: Any, result: Any) -> None:
        import torch

        grabbed: dict[int, Any] = {}
        hooks = [model.blocks[i].norm.register_forward_hook(
            lambda m, inp, y, i=i: grabbed.__setitem__(i, y[:, CHANNEL].detach().flatten()))
            for i in HIST_LAYERS]
        try:
            with restoring(model), torch.no_grad():
                model.train()
                model(x)
        finally:
            for h in hooks:
                h.remove()
        out.append(grabbed)

    return record


def run(module: Any, out_dir: Path, *, device: str, seed: int, scale: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from dlbn.data import load_mnist1d
    from dlbn.models import ModelConfig
    from dlbn.progress import track
    from dlbn.train import TrainConfig, train

    c = _configs(scale)
    d = load_mnist1d(device)
    data = d.head(c["n_train"], len(d.x_test))
    mcfg = ModelConfig(depth=c["depth"], width=c["width"])
    seeds = [seed, seed + 1, seed + 2]
    runs = [(s, kind, lr) for s in seeds for kind, lr in
            [*((k, c["lr"]) for k in KINDS), ("standard", c["lr_standard"])]]
    history: dict[tuple[int, str, float], Any] = {}
    hists: dict[tuple[int, str], list[Any]] = {}
    numbers: dict[str, Any] = {}
    for s, kind, lr in track(runs, "ch03 training"):
        cfg = TrainConfig(epochs=c["epochs"], batch_size=32, lr=lr, seed=s, device=device)
        torch.manual_seed(s)
        model = module.build_net(kind, mcfg).to(device)
        snaps: list[Any] = []
        rec = _recorder(d.x_train[:256], snaps)
        rec(0, model, None)
        res = train(model, data, cfg, progress=False, callbacks=[rec] if lr == c["lr"] else [])
        history[(s, kind, lr)] = res
        hists[(s, kind)] = snaps if lr == c["lr"] else hists.get((s, kind), [])
        numbers[f"seed{s}/{kind}/lr{lr}"] = {
            "final_train_acc": round(res.final_train_acc, 4),
            "final_test_acc": round(res.final_test_acc, 4), "diverged": res.diverged}

    figures = [_plot_training(plt, history, seeds, c, out_dir),
               _plot_histograms(plt, hists[(seed, "batch")], hists[(seed, "noisy")], out_dir)]

    ics: dict[tuple[int, str], Any] = {}
    layers = tuple(range(1, c["depth"]))
    ics_cfg = [(s, k) for s in seeds for k in ("standard", "batch")]
    for s, kind in track(ics_cfg, "ch03 ICS"):
        cfg = TrainConfig(epochs=c["ics_epochs"], batch_size=32, lr=c["lr_standard"], seed=s,
                          device=device)
        out = module.ics_during_training(kind, data, mcfg, cfg, layers, every=c["ics_every"])
        ics[(s, kind)] = out
        for i in layers:
            rel = [a / g for a, g in zip(out["l2"][i], out["grad_norm"][i], strict=True)]
            numbers[f"seed{s}/{kind}/ics_layer{i}"] = {
                "l2": round(median(out["l2"][i]), 4), "rel_l2": round(median(rel), 4),
                "cos": round(median(out["cos"][i]), 4)}
    figures.append(_plot_ics(plt, ics, seeds, layers, out_dir))
    return {"figures": figures, "numbers": numbers}


def _plot_training(plt: Any, history: dict, seeds: list[int], c: dict, out_dir: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for (s, kind, lr), res in history.items():
        dashed = lr != c["lr"]
        label = f"{LABELS[kind]}, lr {lr}" if s == seeds[0] else None
        for ax, key in zip(axes, ("train_acc", "test_acc"), strict=True):
            ys = getattr(res, key)
            xs = res.epoch if key == "train_acc" else res.eval_epoch
            ax.plot(xs, ys, color=COLORS[kind], ls="--" if dashed else "-", alpha=0.8, label=label)
    for ax, title in zip(axes, ("train accuracy (train mode)", "test accuracy"), strict=True):
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"Santurkar Fig. 2 on MNIST-1D: {len(seeds)} seeds")
    fig.tight_layout()
    path = out_dir / "training.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_histograms(plt: Any, bn: list[Any], noisy: list[Any], out_dir: Path) -> Path:
    import numpy as np

    fig, axes = plt.subplots(len(HIST_LAYERS), 2, figsize=(10, 2.8 * len(HIST_LAYERS)),
                             sharex=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for col, (name, snaps) in enumerate((("batch norm", bn), ("noisy batch norm", noisy))):
        for row, layer in enumerate(HIST_LAYERS):
            ax = axes[row][col]
            for e, snap in enumerate(snaps):
                values = snap[layer].cpu().numpy()
                bins = np.linspace(-6, 6, 61)
                ax.hist(values, bins=bins, histtype="step", color=cmap(e / max(len(snaps) - 1, 1)),
                        label=f"epoch {e}")
            ax.set_title(f"{name}: layer {layer + 1}, channel {CHANNEL}, train mode", fontsize=9)
    axes[0][1].legend(fontsize=7, ncol=2)
    axes[-1][0].set_xlabel("activation (norm output)")
    axes[-1][1].set_xlabel("activation (norm output)")
    fig.suptitle("Activation distributions over training, one fixed batch")
    fig.tight_layout()
    path = out_dir / "histograms.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_ics(plt: Any, ics: dict, seeds: list[int], layers: tuple[int, ...],
              out_dir: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    width = 0.38
    for j, kind in enumerate(("standard", "batch")):
        for s_i, s in enumerate(seeds):
            out = ics[(s, kind)]
            rel = [median(a / g for a, g in zip(out["l2"][i], out["grad_norm"][i], strict=True))
                   for i in layers]
            cos = [median(out["cos"][i]) for i in layers]
            xs = [i + (j - 0.5) * width for i in layers]
            kw = {"color": COLORS[kind], "alpha": 0.8, "label": LABELS[kind] if s_i == 0 else None}
            axes[0].scatter(xs, rel, **kw)
            axes[1].scatter(xs, cos, **kw)
    axes[0].set(title="||G - G'|| / ||G|| (median over training)", xlabel="layer (0-based block)")
    axes[1].set(title="cos(G, G') (median over training)", xlabel="layer (0-based block)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Internal covariate shift (Santurkar Def. 2.1), 3 seeds, same LR")
    fig.tight_layout()
    path = out_dir / "ics.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

"""`dlbn run ch02`: the chapter's figures, drawn with the learner's (or the reference) code.

Page's per-channel histograms and the collapse share vs depth (a 50-layer ReLU MLP on
N(0, 1) inputs), then Bjorck et al. Figs 5, 6 and 2 on a 54-block pre-activation ResNet over
MNIST-1D, with and without batch norm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LAYERS = (1, 10, 25, 50)  # Page's histograms: these layers (1-based) ...
CHANNELS = 10  # ... and this many channels
NORM_LABEL = {"none": "no BN", "batch": "BN"}
VARIANT_LABEL = {"plain": "plain ReLU", "batch": "batch norm", "frozen": "frozen BN",
                 "shifted": "shifted ReLU"}


def configs(mod: Any, seed: int, scale: str) -> tuple[Any, Any]:
    if scale == "paper":  # Page: width 2048; Bjorck: ResNet-110 (54 blocks), wider
        return mod.CollapseConfig(50, 2048, 1000, seed), mod.ResNetConfig(54, 64, 256, seed)
    return mod.CollapseConfig(50, 256, 1000, seed), mod.ResNetConfig(54, 16, 256, seed)


def page_histograms(mod: Any, cfg: Any, path: Path) -> None:
    import matplotlib.pyplot as plt
    import torch

    x = torch.randn(cfg.num_inputs, cfg.width, generator=torch.Generator().manual_seed(cfg.seed))
    variants = ("plain", "shifted")
    fig, axes = plt.subplots(len(variants), len(LAYERS), figsize=(13, 5.5))
    for row, variant in enumerate(variants):
        model = mod.deep_mlp(variant, cfg.depth, cfg.width,
                             torch.Generator().manual_seed(cfg.seed + 1))
        h, outs = x, {}
        with torch.no_grad():
            for i, layer in enumerate(model, start=1):
                pre = layer[0](h)  # the linear layer's output, (N, width)
                h = layer[2](layer[1](pre))
                if i in LAYERS:
                    outs[i] = pre
        for col, i in enumerate(LAYERS):
            ax = axes[row, col]
            pre = outs[i]
            # The central 99% of the pooled values: a few huge outliers would squash the rest.
            lo, hi = (float(q) for q in torch.quantile(pre.flatten(), torch.tensor([0.005, 0.995])))
            ax.hist(pre.flatten().numpy(), bins=80, range=(lo, hi), density=True,
                    color="0.85", label="all channels")
            for c in range(CHANNELS):
                ax.hist(pre[:, c].numpy(), bins=80, range=(lo, hi), density=True,
                        histtype="step", linewidth=1.0)
            share = float(mod.collapse_share(pre))
            ax.set_title(f"{VARIANT_LABEL[variant]}, layer {i}\ncollapse share {share:.2f}",
                         fontsize=9)
            ax.set_yticks([])
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Pre-activations of 10 channels (lines) vs all channels pooled (grey), "
                 f"{cfg.depth}-layer width-{cfg.width} MLP at init")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def collapse_plot(curves: dict[str, Any], cfg: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for variant, share in curves.items():
        ax.plot(range(1, len(share) + 1), share.numpy(), label=VARIANT_LABEL[variant])
    ax.set_xlabel("layer")
    ax.set_ylabel("collapse share (between-channel variance)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Collapse vs depth, width {cfg.width}, He init, N(0, 1) inputs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig5_plot(stats: dict[str, Any], cfg: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in zip(axes, ("mean", "std"), ("mean |channel mean|", "mean channel std"),
                              strict=True):
        for norm, s in stats.items():
            ax.semilogy(range(1, len(s[key]) + 1), s[key].numpy(), label=NORM_LABEL[norm])
        ax.set_xlabel("residual block")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(f"Bjorck Fig 5: the residual stream at init, {cfg.num_blocks}-block "
                 f"pre-activation ResNet, MNIST-1D")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig6_plot(grads: dict[str, Any], path: Path, rows: int = 64) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 6))
    for ax, (norm, r) in zip(axes, grads.items(), strict=True):
        im = ax.imshow(r["grad"][:rows].numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                       interpolation="nearest")
        ax.set_title(f"{NORM_LABEL[norm]}: dominant column {r['dominant_column_share']:.2f}\n"
                     f"most common prediction {r['top_class_share']:.2f}", fontsize=10)
        ax.set_xlabel("class")
        ax.set_ylabel("image")
        ax.set_xticks(range(r["grad"].shape[1]))
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="dL/dlogit (softmax - onehot)")
    fig.suptitle("Bjorck Fig 6: output-logit gradients at init")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig2_plot(grads: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (norm, r) in zip(axes, grads.items(), strict=True):
        ax.hist(r["grad"].numpy(), bins=60, log=True, color="C0" if norm == "batch" else "C3")
        ax.set_title(f"{NORM_LABEL[norm]}: std {r['std']:.3g}, kurtosis {r['kurtosis']:.1f}, "
                     f"max/std {r['max_over_std']:.1f}", fontsize=10)
        ax.set_xlabel("dL/dw, first conv of the middle block")
    axes[0].set_ylabel("count")
    fig.suptitle("Bjorck Fig 2: middle-layer weight gradients at init (note the x scales)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(mod: Any, out_dir: Path, *, device: str, seed: int, scale: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from dlbn.progress import track

    out_dir = Path(out_dir)
    mlp_cfg, net_cfg = configs(mod, seed, scale)
    numbers: dict[str, Any] = {}
    figures = []
    results: dict[str, Any] = {}
    steps = ("histograms", "collapse", "fig5", "fig6", "fig2")
    for step in track(steps, "ch02 experiments"):
        if step == "histograms":
            figures.append(out_dir / "page_histograms.png")
            page_histograms(mod, mlp_cfg, figures[-1])
        elif step == "collapse":
            curves = mod.collapse_vs_depth(mlp_cfg)
            figures.append(out_dir / "collapse_vs_depth.png")
            collapse_plot(curves, mlp_cfg, figures[-1])
            numbers.update({f"collapse_layer{mlp_cfg.depth}_{k}": float(v[-1])
                            for k, v in curves.items()})
        elif step == "fig5":
            results = mod.stream_stats(net_cfg)
            figures.append(out_dir / "fig5_stream.png")
            fig5_plot(results, net_cfg, figures[-1])
            for norm, s in results.items():
                numbers[f"stream_std_growth_{norm}"] = float(s["std"][-1] / s["std"][0])
                numbers[f"stream_mean_growth_{norm}"] = float(s["mean"][-1] / s["mean"][0])
        elif step == "fig6":
            results = mod.logit_gradients(net_cfg)
            figures.append(out_dir / "fig6_heatmap.png")
            fig6_plot(results, figures[-1])
            for norm, r in results.items():
                numbers[f"dominant_column_share_{norm}"] = float(r["dominant_column_share"])
                numbers[f"top_class_share_{norm}"] = float(r["top_class_share"])
        else:
            results = mod.middle_gradients(net_cfg)
            figures.append(out_dir / "fig2_gradients.png")
            fig2_plot(results, figures[-1])
            for norm, r in results.items():
                for key in ("std", "kurtosis", "max_over_std"):
                    numbers[f"grad_{key}_{norm}"] = float(r[key])
    return {"figures": figures, "numbers": numbers}

"""`dlbn run ch06`: Page's Hessian experiment on three nets, and its figures.

    dlbn run ch06 --solution --out chapters/ch06_hessian/figures

1. spectra.png: the top-20 Hessian eigenvalues (log scale) of BN, frozen BN and no-BN nets.
2. overlap.png: overlap of each top eigenvector with the output-mean span (C dims) and the
   mean/variance/skew span (3C dims), against the random baseline.
3. perturbation.png: Page's "nearby bad configurations": the frozen-BN net's logits for one
   class over the fixed subset, before and after a step of 1% of the parameter norm along
   that class's output-mean gradient, and along a random direction of the same length.

Small scale: the default OutlierConfig (6 blocks of width 16, 4,250 parameters, 4 of 20
epochs, 1,000 examples, top 20) on MNIST-1D, about a minute on one CPU thread.
Paper scale: the same with width 32 (16,170 parameters), about 4x the time; Page's own
setting (a CIFAR-10 ResNet, millions of parameters) is out of a CPU's reach and not wired.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.lazy import torch

NAMES = {"batch": "BN (train mode)", "frozen": "frozen BN (eval mode)", "none": "no BN"}
COLORS = {"batch": "tab:blue", "frozen": "tab:orange", "none": "tab:green"}


def run(module: Any, out_dir: Path, *, device: str, seed: int, scale: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlbn.hessian import OutlierConfig

    cfg = OutlierConfig(width=32) if scale == "paper" else OutlierConfig()
    res = module.hessian_outliers(cfg, seed, device=device, progress=None)
    out_dir = Path(out_dir)
    figures = [spectra(plt, res, out_dir), overlaps(plt, res, out_dir),
               perturbation(plt, res["frozen"], out_dir, seed)]
    numbers: dict[str, Any] = {"num_params": int(res["batch"]["num_params"])}
    for name, r in res.items():
        vals = r["eigenvalues"]
        numbers[f"{name}_top"] = round(float(vals[0]), 3)
        numbers[f"{name}_lambda9_over_lambda10"] = round(float(vals[8] / vals[9]), 3)
        numbers[f"{name}_overlap_mean_top9_sum"] = round(float(r["overlap_mean"][:9].sum()), 3)
        numbers[f"{name}_overlap_moments_top9_sum"] = round(
            float(r["overlap_moments"][:9].sum()), 3)
        numbers[f"{name}_overlap_mean_10th"] = round(float(r["overlap_mean"][9]), 3)
        numbers[f"{name}_projected_top"] = round(float(r["projected_top"]), 3)
    numbers["ratio_frozen_over_bn"] = round(numbers["frozen_top"] / numbers["batch_top"], 2)
    numbers["ratio_none_over_bn"] = round(numbers["none_top"] / numbers["batch_top"], 2)
    numbers["random_overlap_10_dims"] = 10 / numbers["num_params"]
    numbers["frozen_top_eigenvalues"] = [round(float(v), 3) for v in res["frozen"]["eigenvalues"]]
    numbers["frozen_overlap_mean"] = [round(float(v), 3) for v in res["frozen"]["overlap_mean"]]
    return {"figures": figures, "numbers": numbers}


def spectra(plt: Any, res: dict[str, Any], out_dir: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in res.items():
        vals = r["eigenvalues"].numpy()
        ax.semilogy(range(1, len(vals) + 1), vals.clip(min=1e-3), "o-", ms=4,
                    color=COLORS[name], label=f"{NAMES[name]}: top {vals[0]:.3g}")
    ax.axvline(9.5, color="gray", lw=0.8, ls=":", label="C - 1 = 9")
    ax.set(xlabel="eigenvalue index", ylabel="Hessian eigenvalue (log scale)",
           title="Top Hessian eigenvalues, MNIST-1D, 1,000 examples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "spectra.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def overlaps(plt: Any, res: dict[str, Any], out_dir: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharey=True)
    for ax, (name, r) in zip(axes, res.items(), strict=True):
        k = len(r["overlap_mean"])
        idx = torch.arange(1, k + 1).numpy()
        ax.bar(idx - 0.2, r["overlap_moments"].numpy(), 0.4, color="lightgray",
               label="mean/var/skew span (30 dims)")
        ax.bar(idx + 0.2, r["overlap_mean"].numpy(), 0.4, color=COLORS[name],
               label="output-mean span (10 dims)")
        ax.axhline(30 / r["num_params"], color="k", lw=0.8, ls="--", label="random (30 dims)")
        ax.set(title=NAMES[name], xlabel="eigenvector index", ylim=(0, 1.02))
    axes[0].set_ylabel("norm-squared overlap")
    axes[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = out_dir / "overlap.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@torch.no_grad()
def logits_after(net: Any, batches: Any, step: Any) -> Any:
    from dlbn.hessian import unflatten

    params = list(net.parameters())
    saved = [p.clone() for p in params]
    for p, d in zip(params, unflatten(step.to(params[0].dtype), params), strict=True):
        p.add_(d)
    z = torch.cat([net(x) for x, _ in batches])  # (N, C)
    for p, s in zip(params, saved, strict=True):
        p.copy_(s)
    return z


def perturbation(plt: Any, r: dict[str, Any], out_dir: Path, seed: int) -> Path:
    from dlbn.hessian import flatten

    net, batches, grads = r["net"], r["batches"], r["mean_grads"]
    size = 0.01 * float(flatten([p.detach() for p in net.parameters()]).norm())
    c = 0
    along = grads[:, c] / grads[:, c].norm() * size
    rand = torch.randn(grads.shape[0], generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)
    rand = rand / rand.norm() * size
    zero = torch.zeros_like(along)
    fig, ax = plt.subplots(figsize=(6, 4))
    for step, label, color in ((zero, "trained", "gray"),
                               (rand, "random direction, 1%", "tab:green"),
                               (along, "output-mean gradient of class 0, 1%", "tab:red")):
        z = logits_after(net, batches, step)[:, c].cpu().numpy()
        ax.hist(z, bins=40, alpha=0.5, color=color, label=f"{label}: mean {z.mean():.2f}")
    ax.set(xlabel="logit of class 0", ylabel="examples",
           title="Frozen BN: a 1% step along an outlier direction\nshifts every example")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "perturbation.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

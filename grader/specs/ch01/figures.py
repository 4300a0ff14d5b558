"""`dlbn run ch01`: what batch norm does to real activations, drawn with the learner's code.

1. Per-channel histograms of a random conv layer's pre-activations on MNIST-1D, before and after
   the learner's `BatchNorm` (train mode): every channel ends centred with unit variance.
2. Running statistics: the learner's running_mean of a few channels over 100 training
   steps (batch 64) against the full-data channel means they should approach.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHANNELS = 6  # channels drawn in the histograms
STEPS = 100  # training-mode batches for the running-statistics figure
BATCH = 64


def features(x: Any, seed: int) -> Any:
    """A random conv layer whose channels differ in mean and scale: (N, 1, 40) -> (N, 8, 36)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    conv = torch.nn.Conv1d(1, 8, kernel_size=5).to(x.device)
    with torch.no_grad():
        conv.weight.copy_(
            torch.randn(conv.weight.shape, generator=g) * torch.linspace(0.2, 3, 8)[:, None, None]
        )
        conv.bias.copy_(torch.randn(8, generator=g) * 2)
        return conv(x) + torch.linspace(-4, 4, 8, device=x.device)[None, :, None]


def run(module: Any, out_dir: Path, *, device: str, seed: int, scale: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from dlbn.data import load_mnist1d
    from dlbn.progress import track

    torch.manual_seed(seed)
    data = load_mnist1d(device=device)
    h = features(data.x_train, seed)  # (4000, 8, 36)
    bn = module.BatchNorm(h.shape[1]).to(device)
    bn.train()
    with torch.no_grad():
        y = bn(h)
    before = h.transpose(0, 1).reshape(h.shape[1], -1).cpu()  # (C, N * L)
    after = y.transpose(0, 1).reshape(y.shape[1], -1).cpu()

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=False)
    for c in range(CHANNELS):
        lo, hi = torch.quantile(before[c][::7], torch.tensor([0.005, 0.995])).tolist()
        axes[0].hist(
            before[c].numpy(),
            bins=80,
            range=(lo, hi),
            histtype="step",
            density=True,
            label=f"channel {c}",
        )
        axes[1].hist(after[c].numpy(), bins=80, range=(-4, 4), histtype="step", density=True)
    axes[0].set_title("before BN: each channel its own scale")
    axes[1].set_title("after BN (train mode): mean 0, variance 1")
    axes[0].legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("activation")
    axes[0].set_ylabel("density")
    fig.tight_layout()
    hist_path = out_dir / "histograms.png"
    fig.savefig(hist_path, dpi=120)
    plt.close(fig)

    bn = module.BatchNorm(h.shape[1]).to(device).train()
    g = torch.Generator().manual_seed(seed)
    trace = []
    for _ in track(range(STEPS), "running statistics"):
        idx = torch.randint(0, h.shape[0], (BATCH,), generator=g).to(device)
        with torch.no_grad():
            bn(h[idx])
        trace.append(bn.running_mean[:4].detach().cpu().clone())
    trace = torch.stack(trace)  # (STEPS, 4)
    full_mean = h.mean(dim=(0, 2))[:4].cpu()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for c in range(4):
        line = ax.plot(trace[:, c].numpy(), label=f"channel {c}")[0]
        ax.axhline(float(full_mean[c]), color=line.get_color(), linestyle=":")
    ax.set_xlabel("training step (batch 64, momentum 0.1)")
    ax.set_ylabel("running_mean")
    ax.set_title("running_mean approaches the data mean (dotted)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    running_path = out_dir / "running_stats.png"
    fig.savefig(running_path, dpi=120)
    plt.close(fig)

    stats_after = after.mean(dim=1), after.std(dim=1)
    return {
        "figures": [hist_path, running_path],
        "numbers": {
            "channel std before BN (min)": float(before.std(dim=1).min()),
            "channel std before BN (max)": float(before.std(dim=1).max()),
            "max |channel mean| after BN": float(stats_after[0].abs().max()),
            "max |channel std - 1| after BN": float((stats_after[1] - 1).abs().max()),
            "max |running_mean - data mean| after 100 steps": float(
                (trace[-1] - full_mean).abs().max()
            ),
        },
    }

"""`dlbn run ch07`: the batch-size sweep, the group-count ablation and BN's batch-2 gap.

Wu & He's protocol on MNIST-1D: every norm (BN, GN, LN, IN) at batch sizes 2..32 with the
same number of epochs and the LR scaled linearly with the batch (``train_with_norm``),
three seeds (``seed``, ``seed + 1``, ``seed + 2``). Then GN's group count G = 1 .. C at one
batch size, and, for each batch-2 BN net, the test accuracy with four choices of statistics.
Draws ``error_vs_batch.png`` (Wu & He Fig. 1) and ``group_ablation.png``.

``scale="small"`` is the config the chapter's numbers come from (minutes on a laptop CPU);
``scale="paper"`` is the larger MNIST-1D config of the issue (8 blocks of width 32, all 4,000
examples, 5 epochs: ~20x the compute), not the paper's ImageNet ResNet-50.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

CONFIGS = {
    "small": {"depth": 4, "width": 16, "num_groups": 4, "epochs": 5, "base_lr": 0.2,
              "base_batch": 32, "warmup_epochs": 1.0, "n_train": 2000, "n_test": 1000},
    "paper": {"depth": 8, "width": 32, "num_groups": 8, "epochs": 5, "base_lr": 0.02,
              "base_batch": 32, "n_train": 4000, "n_test": 1000},
}
KINDS = ("batch", "group", "layer", "instance")
LABELS = {"batch": "BN", "group": "GN", "layer": "LN", "instance": "IN"}
BATCH_SIZES = (2, 4, 8, 16, 32)
ABLATION_BATCH = 32  # Wu & He ablate G at 32 images per GPU
SEEDS = 3


def recalibrated_acc(model: Any, x_train: Any, x_test: Any, y_test: Any) -> float:
    """Test accuracy after re-estimating BN's population statistics on the training set.

    A copy of the net gets fresh running statistics, averaged (momentum=None) over the
    training set in batches of 200 in train mode; gamma and beta are untouched.
    """
    import torch

    from dlbn.train import evaluate

    net = copy.deepcopy(model)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches
    net.train()
    with torch.no_grad():
        for i in range(0, len(x_train), 200):
            net(x_train[i : i + 200])
    return evaluate(net, x_test, y_test)[1]


def bn_gap(model: Any, data: tuple[Any, ...]) -> dict[str, float]:
    """A batch-2 BN net's test accuracy with four sources of normalization statistics."""
    from dlbn.train import evaluate

    x_train, _, x_test, y_test = data
    return {
        "running": evaluate(model, x_test, y_test)[1],  # eval mode, as trained (EMA of B=2)
        "recalibrated": recalibrated_acc(model, x_train, x_test, y_test),
        "batch2": evaluate(model, x_test, y_test, batch_size=2, train_mode=True)[1],
        "batch1000": evaluate(model, x_test, y_test, batch_size=1000, train_mode=True)[1],
    }


def job_result(module: Any, cfg: Any, job: tuple[Any, ...], data: Any, device: str,
               cache: Path | None = None) -> dict[str, Any]:
    """Train one job ("sweep", kind, B, seed) or ("ablation", G, B, seed); cached on disk.

    Each finished job is written to ``cache/<hash>.json`` (hash of the config and the job),
    so an interrupted ``dlbn run`` resumes where it stopped; delete the folder to start over.
    """
    what, arg, bs, s = job
    key = hashlib.sha256(repr((str(cfg), job)).encode()).hexdigest()[:16]
    path = cache / f"{key}.json" if cache is not None else None
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    kind, G = ("group", arg) if what == "ablation" else (arg, None)
    r = module.train_with_norm(kind, bs, cfg, seed=s, num_groups=G, data=data, device=device)
    out = {"job": list(job), "test_acc": float(r["test_acc"]), "diverged": bool(r["diverged"])}
    if what == "sweep" and kind == "batch" and bs == 2:
        out["gap"] = bn_gap(r["model"], data)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out) + "\n")
    return out


def grid(scale: str) -> dict[str, tuple[int, ...]]:
    """Batch sizes per norm: all of them for BN and GN (Wu & He Fig. 1); LN and IN only at
    32 at small scale (their Table 1), since each batch-2 run costs 16x a batch-32 run."""
    if scale == "paper":
        return {kind: BATCH_SIZES for kind in KINDS}
    return {"batch": BATCH_SIZES, "group": BATCH_SIZES, "layer": (32,), "instance": (32,)}


def all_jobs(cfg: Any, seeds: list[int], scale: str = "small") -> list[tuple[Any, ...]]:
    groups = [g for g in (1, 2, 4, 8, 16, 32, 64) if cfg.width % g == 0]
    jobs = [("sweep", k, bs, s) for s in seeds for k, sizes in grid(scale).items() for bs in sizes]
    return jobs + [("ablation", g, ABLATION_BATCH, s) for s in seeds for g in groups]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def run(module: Any, out_dir: Path, *, device: str, seed: int, scale: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlbn.progress import track

    cfg = module.SweepConfig(**CONFIGS[scale])
    data = module.load_subset(cfg, device)
    seeds = [seed + i for i in range(SEEDS)]
    groups = [g for g in (1, 2, 4, 8, 16, 32, 64) if cfg.width % g == 0]
    acc: dict[tuple[Any, ...], float] = {}
    gaps: dict[int, dict[str, float]] = {}
    sizes = grid(scale)
    for job in track(all_jobs(cfg, seeds, scale), "ch07 runs"):
        r = job_result(module, cfg, job, data, device, out_dir / ".cache")
        acc[job] = r["test_acc"]
        if "gap" in r:
            gaps[job[3]] = r["gap"]

    numbers: dict[str, Any] = {"config": str(cfg), "seeds": str(seeds)}
    err = {k: [100 * (1 - mean([acc[("sweep", k, b, s)] for s in seeds])) for b in sizes[k]]
           for k in KINDS}
    for k in KINDS:
        for b in sizes[k]:
            per_seed = [acc[("sweep", k, b, s)] for s in seeds]
            numbers[f"{LABELS[k]} B={b} test acc per seed"] = " / ".join(
                f"{a:.3f}" for a in per_seed)
            numbers[f"{LABELS[k]} B={b} test acc mean"] = round(mean(per_seed), 4)
    for g in groups:
        per_seed = [acc[("ablation", g, ABLATION_BATCH, s)] for s in seeds]
        numbers[f"GN G={g} B={ABLATION_BATCH} test acc per seed"] = " / ".join(
            f"{a:.3f}" for a in per_seed)
    for name in ("running", "recalibrated", "batch2", "batch1000"):
        numbers[f"BN B=2 test acc, {name} statistics, per seed"] = " / ".join(
            f"{gaps[s][name]:.3f}" for s in seeds)

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    # A norm that fails outright (IN here: 58-67% error) would flatten the others into a
    # line at the bottom: keep the axis on the rest and print its range in the legend.
    rest = max(e for k in KINDS for e in err[k] if k != "instance")
    top = 1.35 * rest if max(err["instance"]) > 2.5 * rest else None
    for k, marker in zip(KINDS, "osD^", strict=True):
        label = LABELS[k]
        if top is not None and max(err[k]) > top:
            label += f" ({min(err[k]):.0f}-{max(err[k]):.0f}%, off the scale)"
        ax.plot(sizes[k], err[k], marker=marker, label=label, ls="-" if len(sizes[k]) > 1
                else "none", ms=6 if len(sizes[k]) > 1 else 8)
    if top is not None:
        ax.set_ylim(0, top)
    ax.set_xscale("log", base=2)
    ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    ax.invert_xaxis()  # Wu & He Fig. 1: batch size shrinking to the right
    ax.set_xlabel("batch size (examples per step)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"MNIST-1D, {cfg.depth}-block conv net, mean of {SEEDS} seeds")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    curve = out_dir / "error_vs_batch.png"
    fig.savefig(curve, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    errs = [100 * (1 - mean([acc[("ablation", g, ABLATION_BATCH, s)] for s in seeds]))
            for g in groups]
    spread = [100 * (max(v) - min(v)) / 2 for v in
              ([acc[("ablation", g, ABLATION_BATCH, s)] for s in seeds] for g in groups)]
    names = [f"G={g}" + (" (LN)" if g == 1 else " (IN)" if g == cfg.width else "") for g in groups]
    ax.bar(names, errs, yerr=spread, capsize=3, color="tab:orange")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"GN group count at batch {ABLATION_BATCH}, mean (half-range) of {SEEDS} seeds")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    bars = out_dir / "group_ablation.png"
    fig.savefig(bars, dpi=120)
    plt.close(fig)
    return {"figures": [curve, bars], "numbers": numbers}

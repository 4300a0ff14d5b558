"""The small configurations ch03's checks train with: each run takes < 8 s of CPU (the 60 s
floor leaves room for a shared machine); `dlbn run ch03` uses the larger ones in figures.py.
"""

from __future__ import annotations

from typing import Any

KINDS = ("standard", "batch", "noisy")
NOISE_MEAN, NOISE_STD = 0.5, 2.0  # ch03.1: the noise the checks ask for
TRAIN_LR = 0.3  # ch03.2: BN's learning rate (momentum 0.9): the standard net cannot train at it
ICS_LR = 0.05  # ch03.3: a learning rate at which both nets train

# (MNIST-1D train / test signals, ModelConfig fields, TrainConfig fields) of each run
TRAINING = (800, 200, {"depth": 5, "width": 16}, {"epochs": 3, "lr": TRAIN_LR})
LOOP = (160, 100, {"depth": 4, "width": 8}, {"epochs": 2, "lr": 0.05, "weight_decay": 1e-4})
ICS_RUN = (640, 100, {"depth": 6, "width": 16}, {"epochs": 2, "lr": ICS_LR})


def net(depth: int, width: int) -> Any:
    from dlbn.models import ModelConfig

    return ModelConfig(depth=depth, width=width)


def run(ctx: Any, sizes: tuple[int, int, dict[str, Any], dict[str, Any]]) -> tuple[Any, ...]:
    """(data, model_cfg, train_cfg): the first MNIST-1D signals on the probe's device, and
    batches of 32 seeded with the probe's seed."""
    from dlbn.data import Splits, load_mnist1d
    from dlbn.train import TrainConfig

    n_train, n_test, model, train = sizes
    d = load_mnist1d(ctx.device)
    data = Splits("mnist1d", d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test],
                  d.y_test[:n_test])
    cfg = TrainConfig(batch_size=32, seed=ctx.seed, device=ctx.device, **train)
    return data, net(**model), cfg

"""The small configurations ch05's checks train with, in one place (units in comments).

Grading must stay well under a minute on a 2-core CPU, so every run here is tiny: a subset
of MNIST-1D, a 6-layer width-16 net, a few epochs. `dlbn run ch05` uses the full ones
(`figures.py`). Property margins were set from the worst of seeds 0, 1, 2 (README).
"""

from __future__ import annotations

import functools
import types
from typing import Any

TINY_SWEEP_LRS = (0.3, 0.003)  # descending: a net reused from the first LR scores far higher

# The property checks' experiments (ch05.4 and ch05.5), run in the learner's process.
GRADE_DEPTH, GRADE_WIDTH = 6, 16  # conv blocks, channels
GRADE_TRAIN, GRADE_TEST = 1000, 500  # examples
GRADE_EPOCHS = 5  # per sweep run, cosine decay
GRADE_LRS = (0.03, 0.3, 3.0)  # lr_grid(0.03, 3.0, 3): a decade apart
GRADE_TARGET = 0.3  # "stable": not diverged and test accuracy >= this
STRESS_TRAIN = 640  # examples: 20 steps of 32 per epoch
STRESS_LR0, STRESS_FACTOR, STRESS_EPOCHS = 0.01, 2.0, 12  # LR 0.01 * 2 ** epoch, up to ~41


@functools.lru_cache(maxsize=4)
def _mnist1d(device: str) -> Any:
    from dlbn.data import load_mnist1d

    return load_mnist1d(device=device)


def subset(device: str, n_train: int, n_test: int) -> Any:
    """The first n_train / n_test examples of MNIST-1D, as an object with x_train etc."""
    d = _mnist1d(device)
    return types.SimpleNamespace(x_train=d.x_train[:n_train], y_train=d.y_train[:n_train],
                                 x_test=d.x_test[:n_test], y_test=d.y_test[:n_test])


def tiny_sweep_args(device: str) -> tuple[Any, ...]:
    """The match check's lr_sweep: a 4-layer width-8 BN net, 2 epochs of 8 steps per LR."""
    from dlbn.models import ModelConfig
    from dlbn.train import TrainConfig

    return (subset(device, 256, 200), ModelConfig(depth=4, width=8, norm="batch"),
            TINY_SWEEP_LRS, TrainConfig(epochs=2, batch_size=32, seed=1, eval_every=0))


def tiny_stress_args(device: str) -> tuple[Any, ...]:
    """The match check's stress_test: LR x 2 per epoch from 0.05, at most 8 epochs."""
    from dlbn.models import ModelConfig
    from dlbn.train import TrainConfig

    return (subset(device, 256, 200), ModelConfig(depth=4, width=8, norm="none"),
            TrainConfig(epochs=8, batch_size=32, seed=2, eval_every=0), 0.05, 2.0)


def grade_configs(seed: int, device: str) -> dict[str, Any]:
    """The property checks' model, sweep and stress-test configurations, seeded by --seed."""
    from dlbn.models import ModelConfig
    from dlbn.train import TrainConfig

    return {
        "model": ModelConfig(depth=GRADE_DEPTH, width=GRADE_WIDTH),
        "sweep": TrainConfig(epochs=GRADE_EPOCHS, batch_size=32, schedule="warmup_cosine",
                             seed=seed, eval_every=0, device=device),
        "stress": TrainConfig(epochs=STRESS_EPOCHS, batch_size=32, seed=seed, eval_every=0,
                              device=device),
    }

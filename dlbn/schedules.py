"""Learning-rate schedules as pure functions of the step.

Usage::

    from dlbn.schedules import lr_at
    lr_at(0, lr=0.1, schedule="warmup_cosine", epochs=10, steps_per_epoch=125, warmup_epochs=1)

Time is measured in epochs, t = step / steps_per_epoch, so that schedules do not depend on
the batch size. The LR at a step is ``lr * warmup(step) * shape(t)``:

    warmup(step) = min(1, (step + 1) / (warmup_epochs * steps_per_epoch))  (1 if no warm-up)

| schedule              | shape(t) with T = epochs, W = warmup_epochs                       |
| --------------------- | ----------------------------------------------------------------- |
| "constant"            | 1                                                                 |
| "step"                | gamma ** (number of milestones <= t); default milestones T/2, 3T/4 |
| "warmup_cosine"       | 1 for t < W, then (1 + cos(pi (t - W) / (T - W))) / 2              |
| "warmup_linear_decay" | 1 for t < W, then (T - t) / (T - W): a triangle when W > 0         |
| "exponential"         | lr_factor ** t, the LR stress test (Page: 0.005 * 2 ** (t / 2))    |

The warm-up ramp applies to every schedule when ``warmup_epochs > 0``; "warmup_cosine" and
"warmup_linear_decay" with ``warmup_epochs=0`` are plain cosine and linear decay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SCHEDULES = ("constant", "step", "warmup_cosine", "warmup_linear_decay", "exponential")


def lr_at(
    step: int,
    *,
    lr: float,
    schedule: str,
    epochs: float,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    milestones: Sequence[float] = (),
    gamma: float = 0.1,
    lr_factor: float = 2**0.5,
) -> float:
    """The learning rate for optimizer step ``step`` (0-based); see the module table."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    t = step / steps_per_epoch  # epochs elapsed
    warmup_steps = warmup_epochs * steps_per_epoch
    ramp = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0

    if schedule == "constant":
        shape = 1.0
    elif schedule == "step":
        marks = milestones or (epochs / 2, 3 * epochs / 4)
        shape = gamma ** sum(t >= m for m in marks)
    elif schedule == "exponential":
        shape = lr_factor**t
    else:
        # fraction of the post-warm-up phase done, in [0, 1]
        span = max(epochs - warmup_epochs, 1e-12)
        done = min(max((t - warmup_epochs) / span, 0.0), 1.0)
        if schedule == "warmup_cosine":
            shape = 0.5 * (1.0 + math.cos(math.pi * done))
        else:  # warmup_linear_decay
            shape = 1.0 - done
    return lr * ramp * shape

"""ch08's grading configurations: the experiment's and the tiny comparison's, small nets."""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.probing import ProbeContext, ProbeFailure

# The property experiment (learner process only, one seed = the grading seed): 4 variants x
# 20 epochs x 8 steps of batch 16 on 128 examples; ~5 s of CPU on one thread. Margins were
# set from seeds 0, 1, 2 (see chapters/ch08_regularization/README.md).
GRADE: dict[str, Any] = dict(train_size=128, val_size=500, depth=3, width=32, epochs=20,
                             batch_size=16, lr=0.05, eval_every=4)
GRADE_VARIANTS = ("baseline", "weight_decay", "dropout", "batchnorm")  # l2: see ch08.1

# make_variant / run_variant are compared with the reference on a config this small.
SMALL: dict[str, Any] = dict(train_size=48, val_size=64, depth=2, width=8, epochs=2,
                             batch_size=16, lr=0.07, momentum=0.8, weight_decay=0.02,
                             dropout=0.3, eval_every=1)


def small_net(ctx: ProbeContext, offset: int = 0, **kw: Any) -> Any:
    """A seeded 2-block ConvNet on (N, 1, 40) signals; ``kw`` overrides ModelConfig fields."""
    from dlbn.models import ModelConfig, build_model

    torch.manual_seed(1000 * ctx.seed + offset)
    cfg = ModelConfig(**{"depth": 2, "width": 8, "norm": "batch", **kw})
    return build_model(cfg).to(ctx.device)


def signals(ctx: ProbeContext, n: int, offset: int = 0) -> tuple[Any, Any]:
    """x (n, 1, 40) and random labels y (n,) on the device, the same in every process."""
    y = torch.randint(0, 10, (n,), generator=ctx.generator(offset + 1)).to(ctx.device)
    return ctx.randn(n, 1, 40, offset=offset), y


def call_float(value: Any, what: str) -> float:
    """A learner's number as a float (a 0-dim tensor is accepted), or a clean failure."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number or (isinstance(value, torch.Tensor) and value.numel() == 1):
        return float(value)
    raise ProbeFailure(f"{what} returned {type(value).__name__}, expected a float")

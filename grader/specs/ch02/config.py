"""ch02's grading configurations: small seeded models, fixed signals, the experiment sizes
(about 1 s each on one CPU thread; the property margins hold on seeds 0-4, see the judges)."""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.probing import ProbeFailure

# Property experiments at grading size; `dlbn run ch02` uses the chapter's full sizes.
COLLAPSE = {"depth": 50, "width": 64, "num_inputs": 256}
RESNET = {"num_blocks": 24, "width": 8, "batch_size": 128}


def small_mlp(ctx: Any, norm: str = "batch") -> Any:
    """A 4-layer width-6 MLP (dlbn.models.mlp) with fixed weights: (N, 5) -> (N, 6)."""
    from dlbn.models import mlp

    torch.manual_seed(1000 + ctx.seed)
    return mlp(depth=4, width=6, in_features=5, norm=norm).double().to(ctx.device)


def small_convnet(ctx: Any, norm: str = "batch") -> Any:
    """A 3-block width-8 conv net for (N, 1, 40) signals -> (N, 10) logits."""
    from dlbn.models import ModelConfig, build_model

    torch.manual_seed(2000 + ctx.seed)
    return build_model(ModelConfig(depth=3, width=8, norm=norm, num_downsamples=1)).to(ctx.device)


def signals(ctx: Any, n: int = 16, offset: int = 0) -> tuple[Any, Any]:
    """n fixed random (1, 40) signals and labels in 0..9."""
    x = ctx.randn(n, 1, 40, offset=offset)
    y = torch.randint(0, 10, (n,), generator=ctx.generator(offset + 1)).to(ctx.device)
    return x, y


def fields(value: Any, keys: tuple[str, ...], what: str, expect: Any = None) -> dict[str, Any]:
    """``keys`` of a learner's dict, as floats or through ``expect(item, what)`` (say
    `expect_tensor`); a clean failure if it is not a dict."""
    if not isinstance(value, dict):
        raise ProbeFailure(f"{what} returned {type(value).__name__}, expected a dict")
    if expect is None:
        return {k: float(value[k]) for k in keys}
    return {k: expect(value.get(k), f"{what}[{k!r}]") for k in keys}

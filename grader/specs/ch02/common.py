"""Shared bits of the ch02 checks: small seeded models and the experiment configs.

Grading configs are deliberately small (about 1 s each on one CPU thread); the margins in
the property judges hold on seeds 0-4 (measured values in the comments there).
"""

from __future__ import annotations

from typing import Any

from grader.lazy import torch

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
    g = ctx.generator(offset + 1)
    y = torch.randint(0, 10, (n,), generator=g).to(ctx.device)
    return x, y


def hooks_left(model: Any) -> int:
    """Forward hooks and pre-hooks still registered anywhere in ``model``."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

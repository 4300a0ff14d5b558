"""ch07 checks: layer norm and instance norm as group norm, and the norm factory (ch07.3).

Oracles: ``F.layer_norm`` over (C, *) with gamma/beta broadcast to (C, *), ``F.instance_norm``,
and ``dlbn.norms.make_norm`` (torch's layers) for the factory.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import F
from grader.probing import ProbeContext, expect_tensor
from grader.spec import Checks, contract
from grader.specs.ch07.checks_norm import from_scratch, inputs, raised

SHAPES = {"2d": (5, 6), "3d": (4, 6, 7), "4d": (3, 6, 4, 5)}
KINDS = (("batch", 1), ("batch", 2), ("group", 1), ("layer", 1), ("instance", 1))


def torch_layer_norm(x: Any, gamma: Any, beta: Any, eps: float) -> Any:
    shape = x.shape[1:]
    view = (-1, *[1] * (x.dim() - 2))
    return F.layer_norm(x, shape, gamma.reshape(view).expand(shape),
                        beta.reshape(view).expand(shape), eps)


def torch_factory(kind: str, num_channels: int, num_groups: int, dims: int) -> Any:
    from dlbn.norms import make_norm

    return make_norm(kind, num_channels, num_groups=num_groups, dims=dims)


def cases(fn: Any, shapes: tuple[str, ...], ctx: ProbeContext, what: str) -> dict[str, Any]:
    out = {}
    for i, name in enumerate(shapes):
        dtype = "float64" if i % 2 else "float32"
        x, gamma, beta = inputs(ctx, SHAPES[name], dtype, 2.0, True, 200 + 10 * i)
        out[name] = expect_tensor(fn(x, gamma, beta, 1e-5), what)
    return out


checks = Checks()
checks.same_as("ch07.3.layer_norm", "layer_norm equals F.layer_norm over (C, *), 2-D/3-D/4-D",
               lambda layer_norm, ctx: cases(layer_norm, ("2d", "3d", "4d"), ctx, "layer_norm"),
               trusted={"layer_norm": torch_layer_norm},
               hint="Layer norm is one group holding every channel: group_norm(x, 1, ...).")
checks.same_as("ch07.3.instance_norm", "instance_norm equals F.instance_norm, 3-D/4-D",
               lambda instance_norm, ctx: cases(instance_norm, ("3d", "4d"), ctx, "instance_norm"),
               trusted={"instance_norm": lambda x, gamma, beta, eps:
                        F.instance_norm(x, weight=gamma, bias=beta, eps=eps)},
               hint="Instance norm gives every channel its own group: group_norm(x, C, ...).")


@checks.match("ch07.3.factory", "make_norm_layer: batch (1-D, 2-D), group, layer, instance",
              against={"make_norm_layer": torch_factory},
              hint="batch -> nn.BatchNorm1d/2d by dims; group -> GroupNorm(num_groups, C); "
              "layer -> G = 1; instance -> G = C.")
def factory(make_norm_layer: Any, ctx: ProbeContext) -> dict[str, Any]:
    """Each kind's layer: its group count, state_dict layout and train-mode output."""
    out = {}
    for kind, dims in KINDS:
        layer = make_norm_layer(kind, 8, num_groups=4, dims=dims)
        x, _, _ = inputs(ctx, (4, 8, 3, 5) if dims == 2 else (4, 8, 6), "float32", 2.0, False, 300)
        layer.train()
        y = expect_tensor(layer(x), f"make_norm_layer({kind!r}, ...)(x)")
        out[f"{kind}_{dims}d"] = {"num_groups": getattr(layer, "num_groups", None),
                                  "keys": list(layer.state_dict().keys()), "output": y}
    return out


@checks.api("ch07.3.unknown_kind", "an unknown kind raises ValueError listing the valid kinds",
            hint="Raise ValueError naming NORM_KINDS for other names.",
            judge=contract({
                "value_error": lambda got: "make_norm_layer('weight', 8) should raise "
                f"ValueError, got {got['raised'] or 'a layer'}",
                "named": lambda got: "the error should list the valid kinds; it says "
                f"{got['message']!r}",
            }))
def unknown_kind(make_norm_layer: Any, ctx: ProbeContext) -> dict[str, Any]:
    return raised(lambda: make_norm_layer("weight", 8), "group", "batch")


def own_layers(layer_norm: Any, instance_norm: Any, make_norm_layer: Any, ctx: Any) -> None:
    x = ctx.randn(3, 8, 5)
    layer_norm(x)
    instance_norm(x)
    for kind in ("group", "layer", "instance"):
        make_norm_layer(kind, 8, num_groups=4)(x)


from_scratch(checks, "ch07.3.from_scratch",
             "layer/instance norm and the factory's layers are your own", own_layers,
             hint="Build group, layer and instance layers from your GroupNorm, not torch's.")

"""ch07 checks: layer norm and instance norm as group norm, and the norm factory (ch07.3).

Oracles: ``F.layer_norm`` over (C, *) with gamma/beta broadcast to (C, *), ``F.instance_norm``,
and ``dlbn.norms.make_norm`` (torch's layers) for the factory.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import F
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor
from grader.specs.ch07.checks_norm import SCRATCH, forbidden_calls, inputs, judge_from_scratch
from grader.specs.helpers import api, match

SHAPES = {"2d": (5, 6), "3d": (4, 6, 7), "4d": (3, 6, 4, 5)}


def layer_oracle(x: Any, gamma: Any, beta: Any) -> Any:
    shape = x.shape[1:]
    view = (-1, *[1] * (x.dim() - 2))
    return F.layer_norm(x, shape, gamma.reshape(view).expand(shape),
                        beta.reshape(view).expand(shape), 1e-5)


def norm_cases(fn: Any, shapes: tuple[str, ...], ctx: ProbeContext, what: str) -> dict[str, Any]:
    out = {}
    for i, name in enumerate(shapes):
        dtype = "float64" if i % 2 else "float32"
        x, gamma, beta = inputs(ctx, SHAPES[name], dtype, 2.0, True, 200 + 10 * i)
        out[name] = expect_tensor(fn(x, gamma, beta), what)
    return out


def learner_layer(mod: Any) -> Any:
    return lambda x, g, b: mod.layer_norm(x, g, b, 1e-5)


def learner_instance(mod: Any) -> Any:
    return lambda x, g, b: mod.instance_norm(x, g, b, 1e-5)


def torch_instance(x: Any, g: Any, b: Any) -> Any:
    return F.instance_norm(x, weight=g, bias=b, eps=1e-5)


KINDS = (("batch", 1), ("batch", 2), ("group", 1), ("layer", 1), ("instance", 1))


def factory_run(make: Any, ctx: ProbeContext) -> dict[str, Any]:
    """Each kind's layer: its group count, state_dict layout and train-mode output."""
    out = {}
    for kind, dims in KINDS:
        layer = make(kind, 8, num_groups=4, dims=dims)
        shape = (4, 8, 3, 5) if dims == 2 else (4, 8, 6)
        x, _, _ = inputs(ctx, shape, "float32", 2.0, False, 300)
        layer.train()
        out[f"{kind}_{dims}d"] = {
            "num_groups": getattr(layer, "num_groups", None),
            "keys": list(layer.state_dict().keys()),
            "output": expect_tensor(layer(x), f"make_norm_layer({kind!r}, ...)(x)"),
        }
    return out


def torch_factory(kind: str, num_channels: int, num_groups: int, dims: int) -> Any:
    from dlbn.norms import make_norm

    return make_norm(kind, num_channels, num_groups=num_groups, dims=dims)


def probe_unknown(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    try:
        mod.make_norm_layer("weight", 8)
    except ValueError as exc:
        return {"raised": "ValueError", "message": str(exc)}
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        return {"raised": type(exc).__name__, "message": str(exc)}
    return {"raised": None, "message": ""}


def judge_unknown(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    if got["raised"] != "ValueError":
        return Verdict.fail(f"make_norm_layer('weight', 8) should raise ValueError, got "
                            f"{got['raised'] or 'a layer'}")
    if "group" not in got["message"] or "batch" not in got["message"]:
        return Verdict.fail(f"the error should list the valid kinds; it says {got['message']!r}")
    return Verdict.ok()


def probe_scratch(mod: Any, ctx: ProbeContext) -> dict[str, int]:
    x = ctx.randn(3, 8, 5)

    def work() -> None:
        mod.layer_norm(x)
        mod.instance_norm(x)
        for kind in ("group", "layer", "instance"):
            mod.make_norm_layer(kind, 8, num_groups=4)(x)

    return forbidden_calls(ctx, work)


FACTORY = [
    match("ch07.3.layer_norm", "layer_norm equals F.layer_norm over (C, *), 2-D/3-D/4-D",
          lambda mod, ctx: norm_cases(learner_layer(mod), ("2d", "3d", "4d"), ctx, "layer_norm"),
          oracle=lambda mod, ctx: norm_cases(layer_oracle, ("2d", "3d", "4d"), ctx, ""),
          hint="Layer norm is one group holding every channel: group_norm(x, 1, ...)."),
    match("ch07.3.instance_norm", "instance_norm equals F.instance_norm, 3-D/4-D",
          lambda mod, ctx: norm_cases(learner_instance(mod), ("3d", "4d"), ctx, "instance_norm"),
          oracle=lambda mod, ctx: norm_cases(torch_instance, ("3d", "4d"), ctx, ""),
          hint="Instance norm gives every channel its own group: group_norm(x, C, ...)."),
    match("ch07.3.factory", "make_norm_layer: batch (1-D, 2-D), group, layer, instance",
          lambda mod, ctx: factory_run(mod.make_norm_layer, ctx),
          oracle=lambda mod, ctx: factory_run(torch_factory, ctx),
          hint="batch -> nn.BatchNorm1d/2d by dims; group -> GroupNorm(num_groups, C); "
          "layer -> G = 1; instance -> G = C."),
    api("ch07.3.unknown_kind", "an unknown kind raises ValueError listing the valid kinds",
        probe_unknown, judge_unknown, hint="Raise ValueError naming NORM_KINDS for other names."),
    api("ch07.3.from_scratch", "layer/instance norm and the factory's layers are your own",
        probe_scratch, judge_from_scratch, scratch=SCRATCH,
        hint="Build group, layer and instance layers from your GroupNorm, not torch's."),
]

"""ch07 checks: group norm the function (ch07.1) and the module (ch07.2).

torch is the oracle: match checks run the same seeded inputs through ``F.group_norm``,
autograd on it, and ``nn.GroupNorm`` in the reference process.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import F, nn, torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor
from grader.specs.helpers import all_true, api, match

FORBIDDEN = (
    "torch.group_norm",
    "torch.native_group_norm",
    "torch.nn.functional.group_norm",
    "torch.layer_norm",
    "torch.native_layer_norm",
    "torch.nn.functional.layer_norm",
    "torch.instance_norm",
    "torch.nn.functional.instance_norm",
    "torch.batch_norm",
    "torch.nn.functional.batch_norm",
)


# What the learner's source must not name (read in the parent): torch's group, layer and
# instance norms in any form. Batch norm stays allowed: the factory returns torch's BN.
SCRATCH = tuple(n for n in FORBIDDEN if "batch_norm" not in n)


def forbidden_calls(ctx: ProbeContext, work: Any) -> dict[str, int]:
    """Calls of each forbidden torch function made while ``work()`` ran."""
    before = {name: ctx.calls(name) for name in FORBIDDEN}
    work()
    return {name: ctx.calls(name) - n for name, n in before.items()}


def judge_from_scratch(got: dict[str, int], expected: Any, ctx: Any) -> Verdict:
    used = {name: n for name, n in got.items() if n}
    if used:
        names = ", ".join(f"{name} ({n}x)" for name, n in used.items())
        return Verdict.fail(f"your code called {names}: this task is from scratch")
    return Verdict.ok()


def inputs(ctx: ProbeContext, shape: tuple[int, ...], dtype: str, std: float, affine: bool,
           offset: int) -> tuple[Any, Any, Any]:
    """x with a per-channel offset (so that grouping matters), gamma and beta (C,) or None."""
    dt = getattr(torch, dtype)
    C = shape[1]
    shift = ctx.randn(C, dtype=dt, offset=offset + 1, std=2.0)
    shift = shift.reshape(1, C, *[1] * (len(shape) - 2))  # (1, C, 1, ...)
    x = ctx.randn(*shape, dtype=dt, offset=offset, std=std, mean=0.5) + std * shift
    gamma = 1 + 0.5 * ctx.randn(C, dtype=dt, offset=offset + 2) if affine else None
    beta = ctx.randn(C, dtype=dt, offset=offset + 3) if affine else None
    return x, gamma, beta


def gn_check(id: str, title: str, hint: str, shape: tuple[int, ...], groups: int,
             dtype: str = "float32", std: float = 2.0, affine: bool = True, offset: int = 0):
    """Forward match against F.group_norm on one seeded input."""

    def probe(mod: Any, ctx: ProbeContext) -> Any:
        x, gamma, beta = inputs(ctx, shape, dtype, std, affine, offset)
        return expect_tensor(mod.group_norm(x, groups, gamma, beta, 1e-5), "group_norm")

    def oracle(mod: Any, ctx: ProbeContext) -> Any:
        x, gamma, beta = inputs(ctx, shape, dtype, std, affine, offset)
        return F.group_norm(x, groups, gamma, beta, 1e-5)

    return match(id, title, probe, oracle=oracle, hint=hint)


def grad_check(id: str, title: str, hint: str, shape: tuple[int, ...], groups: int,
               dtype: str = "float64", offset: int = 50):
    """Gradients of <y, g> for a random upstream g, with respect to x, gamma and beta."""

    def run(fn: Any, ctx: ProbeContext) -> list[Any]:
        x, gamma, beta = inputs(ctx, shape, dtype, 3.0, True, offset)
        leaves = [t.clone().requires_grad_() for t in (x, gamma, beta)]
        y = expect_tensor(fn(leaves[0], groups, leaves[1], leaves[2], 1e-5), "group_norm")
        if not y.requires_grad:
            from grader.probing import ProbeFailure

            raise ProbeFailure("group_norm's output does not require grad: keep it in the graph")
        upstream = ctx.randn(*shape, dtype=y.dtype, offset=offset + 9)  # ones would prove little
        grads = torch.autograd.grad(y, leaves, upstream, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g
                 for t, g in zip(leaves, grads, strict=True)]
        return [y, *grads]

    return match(id, title, lambda mod, ctx: run(mod.group_norm, ctx),
                 oracle=lambda mod, ctx: run(F.group_norm, ctx), hint=hint)


def probe_per_example(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    x, gamma, beta = inputs(ctx, (5, 6, 4), "float64", 2.0, True, 70)
    full = expect_tensor(mod.group_norm(x, 3, gamma, beta), "group_norm")
    alone = torch.cat([mod.group_norm(x[i : i + 1], 3, gamma, beta) for i in range(5)])
    return {"independent": bool(torch.allclose(full, alone, atol=1e-10, rtol=1e-8)),
            "error": float((full - alone).abs().max())}


def judge_per_example(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    if got["independent"]:
        return Verdict.ok()
    return Verdict.fail(
        "normalizing the batch at once and one example at a time differ (max difference "
        f"{got['error']:.3g}): group norm's statistics must not depend on the other examples"
    )


def probe_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    x, gamma, beta = inputs(ctx, (3, 8, 5), "float64", 2.0, True, 80)
    copies = [t.clone() for t in (x, gamma, beta)]
    y = expect_tensor(mod.group_norm(x, 4, gamma, beta), "group_norm")
    y32 = expect_tensor(mod.group_norm(x.float(), 4), "group_norm")
    return {
        "shape": tuple(y.shape) == tuple(x.shape),
        "dtype": y.dtype == torch.float64 and y32.dtype == torch.float32,
        "device": y.device.type == x.device.type,
        "unchanged": all(torch.equal(a, b) for a, b in zip((x, gamma, beta), copies, strict=True)),
    }


def judge_contract(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    return all_true(got, {
        "shape": "the output's shape differs from the input's",
        "dtype": "the output's dtype differs from the input's (float64 in, float64 out)",
        "device": "the output is on another device than the input",
        "unchanged": "x, weight or bias was modified in place: compute new tensors instead",
    })


def probe_bad_groups(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    x = ctx.randn(2, 6, 4)  # 48 values: x.reshape(2, 4, -1) would quietly work
    try:
        mod.group_norm(x, 4)
    except ValueError as exc:
        return {"raised": "ValueError", "message": str(exc)}
    except NotImplementedError:
        raise  # not started
    except Exception as exc:  # noqa: BLE001 - report what was raised instead
        return {"raised": type(exc).__name__, "message": str(exc)}
    return {"raised": None, "message": ""}


def judge_bad_groups(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    if got["raised"] is None:
        return Verdict.fail("group_norm(x of shape (2, 6, 4), num_groups=4) returned a result; "
                            "4 groups cannot split 6 channels: raise ValueError")
    if got["raised"] != "ValueError":
        return Verdict.fail(f"expected ValueError for 4 groups of 6 channels, got {got['raised']}: "
                            f"{got['message']}")
    if "6" not in got["message"] or "4" not in got["message"]:
        return Verdict.fail(f"the error should name C = 6 and num_groups = 4; it says: "
                            f"{got['message']!r}")
    return Verdict.ok()


def probe_from_scratch(mod: Any, ctx: ProbeContext) -> dict[str, int]:
    x = ctx.randn(4, 6, 5)
    return forbidden_calls(ctx, lambda: mod.group_norm(x, 3, torch.ones(6), torch.zeros(6)))


GROUPING_HINT = ("Group g holds the CONTIGUOUS channels g*C/G .. (g+1)*C/G - 1: "
                 "x.reshape(N, G, -1), not a strided split.")
FUNCTION = [
    gn_check("ch07.1.forward_2d", "(N, C) float32, G = 4", shape=(6, 8), groups=4,
             hint="Per example, statistics over the C/G channels of each group. " + GROUPING_HINT),
    gn_check("ch07.1.forward_3d", "(N, C, L) float64, G = 3", shape=(4, 12, 10), groups=3,
             dtype="float64",
             hint="For (N, C, L) a group's statistics run over its channels AND all of L."),
    gn_check("ch07.1.forward_4d", "(N, C, H, W) float32, G = 2", shape=(3, 8, 5, 6), groups=2,
             hint="For images a group's statistics run over its channels and all of H and W."),
    gn_check("ch07.1.small_groups", "G = C / 2 (two channels of length 3 per group), float64",
             shape=(4, 8, 3), groups=4, dtype="float64",
             hint="Use the biased variance (divide by m, not m - 1), as torch does."),
    gn_check("ch07.1.small_variance", "tiny variance (std 1e-3), where eps matters",
             shape=(4, 8, 6), groups=4, dtype="float64", std=1e-3,
             hint="eps goes inside the square root: (x - mu) / sqrt(var + eps)."),
    gn_check("ch07.1.no_affine", "weight and bias None", shape=(3, 6, 7), groups=3,
             affine=False, hint="None means gamma = 1 and beta = 0."),
    grad_check("ch07.1.grad", "gradients (x, gamma, beta), random upstream, float64",
               shape=(3, 6, 5), groups=3,
               hint="Build y from differentiable torch ops (no .detach(), no torch.no_grad)."),
    grad_check("ch07.1.grad_4d", "gradients on (N, C, H, W) float32", shape=(2, 8, 3, 4),
               groups=4, dtype="float32", hint="The statistics must include the spatial axes."),
    api("ch07.1.per_example", "each example is normalized on its own", probe_per_example,
        judge_per_example, hint="Reduce over the group's values of ONE example: never over N."),
    api("ch07.1.contract", "same shape/dtype/device, inputs untouched", probe_contract,
        judge_contract, hint="Build new tensors; do not modify x, weight or bias in place."),
    api("ch07.1.bad_groups", "ValueError naming C and G when G does not divide C",
        probe_bad_groups, judge_bad_groups,
        hint="Check C % num_groups before reshaping: reshape can silently mix channels."),
    api("ch07.1.from_scratch", "does not call torch's group/layer/instance/batch norm",
        probe_from_scratch, judge_from_scratch, scratch=SCRATCH,
        hint="Compute mean and variance yourself with reshape, mean and var."),
]

# ---------------------------------------------------------------- ch07.2 module


def layout(make: Any) -> dict[str, Any]:
    out = {}
    for name, kw in {"default": {}, "no_affine": {"affine": False}}.items():
        gn = make(4, 12, **kw)
        out[name] = {
            "keys": list(gn.state_dict().keys()),
            "shapes": [list(v.shape) for v in gn.state_dict().values()],
            "parameters": [n for n, _ in gn.named_parameters()],
            "buffers": [n for n, _ in gn.named_buffers()],
            "init": [v for v in gn.state_dict().values()],
            "attrs": [gn.num_groups, gn.num_channels, gn.eps, gn.affine],
        }
    return out


def probe_state_dict(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = layout(mod.GroupNorm)
    theirs = nn.GroupNorm(4, 12)
    with torch.no_grad():
        theirs.weight.copy_(ctx.randn(12, offset=90))
        theirs.bias.copy_(ctx.randn(12, offset=91))
    ours = mod.GroupNorm(4, 12)
    ours.load_state_dict(theirs.state_dict())  # torch -> ours
    back = nn.GroupNorm(4, 12)
    back.load_state_dict(ours.state_dict())  # ours -> torch
    out["round_trip"] = [back.weight, back.bias]
    return out


def oracle_state_dict(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = layout(nn.GroupNorm)
    out["round_trip"] = [ctx.randn(12, offset=90), ctx.randn(12, offset=91)]
    return out


def module_run(make: Any, ctx: ProbeContext, eps: float, std: float) -> dict[str, Any]:
    gn = make(3, 6, eps=eps).double()
    with torch.no_grad():
        gn.weight.copy_(1 + 0.5 * ctx.randn(6, dtype=torch.float64, offset=100))
        gn.bias.copy_(ctx.randn(6, dtype=torch.float64, offset=101))
    out = {}
    for mode, shape in (("train", (4, 6, 7)), ("eval", (2, 6, 3, 4))):
        gn.train(mode == "train")
        x, _, _ = inputs(ctx, shape, "float64", std, False, 110 + len(shape))
        x.requires_grad_()
        y = expect_tensor(gn(x), "GroupNorm.forward")
        upstream = ctx.randn(*shape, dtype=torch.float64, offset=120)
        out[mode] = [y, *torch.autograd.grad(y, (x, gn.weight, gn.bias), upstream)]
    return out


def module_check(id: str, title: str, hint: str, eps: float = 1e-5, std: float = 2.0):
    return match(id, title, lambda mod, ctx: module_run(mod.GroupNorm, ctx, eps, std),
                 oracle=lambda mod, ctx: module_run(nn.GroupNorm, ctx, eps, std), hint=hint)


def drop_in_case(make: Any, ctx: ProbeContext) -> dict[str, Any]:
    """torch's constructor keywords, reset_parameters and an empty batch, on (N, C) input."""
    out: dict[str, Any] = {}
    for name, kw in {"float64": {"dtype": torch.float64, "device": "cpu"},
                     "no_bias": {"bias": False}}.items():
        gn = make(2, 4, **kw)
        out[name] = {"keys": list(gn.state_dict()),
                     "dtypes": [str(v.dtype) for v in gn.state_dict().values()]}
    gn = make(2, 4)
    with torch.no_grad():
        gn.weight.mul_(3)
        gn.bias.add_(1)
    gn.reset_parameters()
    out["reset"] = dict(gn.state_dict())
    y = expect_tensor(gn(ctx.randn(0, 4, 3)), "GroupNorm.forward")
    out["empty"] = list(y.shape)
    return out


def probe_module_scratch(mod: Any, ctx: ProbeContext) -> dict[str, int]:
    gn = mod.GroupNorm(2, 6)
    x = ctx.randn(3, 6, 4)
    return forbidden_calls(ctx, lambda: gn(x))


MODULE = [
    match("ch07.2.state_dict", "parameters, init and state_dict match nn.GroupNorm, both ways",
          probe_state_dict, oracle=oracle_state_dict,
          hint="weight = ones(C) and bias = zeros(C) as nn.Parameter (one per CHANNEL, not per "
          "group); register_parameter(name, None) when affine is False."),
    module_check("ch07.2.forward", "forward and gradients, train (N, C, L) and eval (N, C, H, W)",
                 hint="forward: group_norm(x, self.num_groups, self.weight, self.bias, self.eps)."),
    module_check("ch07.2.eps", "eps=0.01 on a tiny-variance input", eps=1e-2, std=1e-2,
                 hint="Pass the module's own self.eps to group_norm."),
    match("ch07.2.drop_in", "torch's constructor (device=, dtype=, bias=), reset_parameters, "
          "an empty batch", lambda mod, ctx: drop_in_case(mod.GroupNorm, ctx),
          oracle=lambda mod, ctx: drop_in_case(nn.GroupNorm, ctx),
          hint="Create weight and bias with device=device, dtype=dtype; bias=False registers "
          "bias as None; an empty batch (N = 0) returns an empty output."),
    api("ch07.2.from_scratch", "the module does not call torch's norms", probe_module_scratch,
        judge_from_scratch, scratch=SCRATCH,
        hint="Call your own group_norm, not F.group_norm or nn.GroupNorm."),
]

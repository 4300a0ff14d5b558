"""ch07 checks: group norm the function (ch07.1) and the module (ch07.2).

torch is the oracle: match checks run the same seeded inputs through ``F.group_norm``,
autograd on it, and ``nn.GroupNorm`` (`Checks.same_as`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from grader.lazy import F, nn, torch
from grader.probing import CALLS, ProbeContext, ProbeFailure, expect_tensor
from grader.spec import Checks, contract, fail

FORBIDDEN = ("torch.group_norm", "torch.native_group_norm", "torch.nn.functional.group_norm",
             "torch.layer_norm", "torch.native_layer_norm", "torch.nn.functional.layer_norm",
             "torch.instance_norm", "torch.nn.functional.instance_norm",
             "torch.batch_norm", "torch.nn.functional.batch_norm")
# What the learner's source must not name (read in the parent): torch's group, layer and
# instance norms. Batch norm may be named (the factory returns torch's BN); calls of it are
# still counted at run time (group norm written as a reshaped batch norm).
SCRATCH = tuple(n for n in FORBIDDEN if "batch_norm" not in n)


def from_scratch(checks: Checks, id: str, title: str, run: Callable[..., Any], *,
                 hint: str) -> None:
    """``run`` (learner names by parameter) calls none of FORBIDDEN; graded, the source names
    none of SCRATCH (`Checks.from_scratch` would read it for BN too: the factory's BN)."""

    @functools.wraps(run)  # the probe's parameters are run's
    def probe(*args: Any) -> dict[str, int]:
        before = {name: CALLS[name] for name in FORBIDDEN}
        run(*args)
        return {name: CALLS[name] - n for name, n in before.items()}

    @checks.api(id, title, hint=hint, scratch=SCRATCH)(probe).judge
    def _(got: dict[str, int]) -> None:
        if used := {name: n for name, n in got.items() if n}:
            names = ", ".join(f"{name} ({n}x)" for name, n in used.items())
            fail(f"your code called {names}: this task is from scratch")


def raised(call: Callable[[], Any], *words: str) -> dict[str, Any]:
    """What ``call()`` raised (type name or None, its text), whether it is a ValueError and
    whether its text names every one of ``words`` (flags for `contract`)."""
    try:
        call()
    except NotImplementedError:
        raise  # not started
    except Exception as exc:  # noqa: BLE001 - what was raised is the verdict
        text = str(exc)
        return {"raised": type(exc).__name__, "message": text,
                "value_error": isinstance(exc, ValueError), "named": all(w in text for w in words)}
    return {"raised": None, "message": ""}


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


checks = Checks()
TORCH = {"group_norm": lambda x, num_groups, weight=None, bias=None, eps=1e-5:
         F.group_norm(x, num_groups, weight, bias, eps)}
TORCH_MODULE = {"GroupNorm": lambda *args, **kw: nn.GroupNorm(*args, **kw)}


def case(id: str, title: str, hint: str, shape: tuple[int, ...], groups: int, *,
         dtype: str = "float32", std: float = 2.0, affine: bool = True, grad: bool = False) -> None:
    """A match against F.group_norm on one seeded input: y, and with ``grad`` the gradients of
    <y, g> for a random upstream g with respect to x, gamma and beta."""

    def run(group_norm: Any, ctx: ProbeContext) -> Any:
        x, gamma, beta = inputs(ctx, shape, dtype, std, affine, 50 if grad else 0)
        if not grad:
            return expect_tensor(group_norm(x, groups, gamma, beta, 1e-5), "group_norm")
        leaves = [t.clone().requires_grad_() for t in (x, gamma, beta)]
        y = expect_tensor(group_norm(leaves[0], groups, leaves[1], leaves[2], 1e-5), "group_norm")
        if not y.requires_grad:
            raise ProbeFailure("group_norm's output does not require grad: keep it in the graph")
        upstream = ctx.randn(*shape, dtype=y.dtype, offset=59)  # ones would prove little
        grads = torch.autograd.grad(y, leaves, upstream, allow_unused=True)
        return [y, *(torch.zeros_like(t) if g is None else g
                     for t, g in zip(leaves, grads, strict=True))]

    checks.same_as(id, title, run, trusted=TORCH, hint=hint)


GROUPING_HINT = ("Group g holds the CONTIGUOUS channels g*C/G .. (g+1)*C/G - 1: "
                 "x.reshape(N, G, -1), not a strided split.")
case("ch07.1.forward_2d", "(N, C) float32, G = 4", shape=(6, 8), groups=4,
     hint="Per example, statistics over the C/G channels of each group (two values here, "
     "where the biased variance, dividing by m, not m - 1, matters most). " + GROUPING_HINT)
case("ch07.1.forward_3d", "(N, C, L) float64, G = 3", shape=(4, 12, 10), groups=3,
     dtype="float64", hint="For (N, C, L) a group's statistics run over its channels AND all of L.")
case("ch07.1.forward_4d", "(N, C, H, W) float32, G = 2", shape=(3, 8, 5, 6), groups=2,
     hint="For images a group's statistics run over its channels and all of H and W.")
case("ch07.1.small_groups", "G = C / 2 (two channels of length 3 per group), float64",
     shape=(4, 8, 3), groups=4, dtype="float64",
     hint="Use the biased variance (divide by m, not m - 1), as torch does.")
case("ch07.1.small_variance", "tiny variance (std 1e-3), where eps matters", shape=(4, 8, 6),
     groups=4, dtype="float64", std=1e-3,
     hint="eps goes inside the square root: (x - mu) / sqrt(var + eps).")
case("ch07.1.no_affine", "weight and bias None", shape=(3, 6, 7), groups=3, affine=False,
     hint="None means gamma = 1 and beta = 0.")
case("ch07.1.grad", "gradients (x, gamma, beta), random upstream, float64", shape=(3, 6, 5),
     groups=3, dtype="float64", std=3.0, grad=True,
     hint="Build y from differentiable torch ops (no .detach(), no torch.no_grad).")
case("ch07.1.grad_4d", "gradients on (N, C, H, W) float32", shape=(2, 8, 3, 4), groups=4,
     std=3.0, grad=True, hint="The statistics must include the spatial axes.")


@checks.api("ch07.1.per_example", "each example is normalized on its own",
            hint="Reduce over the group's values of ONE example: never over N.",
            judge=contract({"independent": lambda got: "normalizing the batch at once and one "
                            f"example at a time differ (max difference {got['error']:.3g}): "
                            "group norm's statistics must not depend on the other examples"}))
def per_example(group_norm: Any, ctx: ProbeContext) -> dict[str, Any]:
    x, gamma, beta = inputs(ctx, (5, 6, 4), "float64", 2.0, True, 70)
    full = expect_tensor(group_norm(x, 3, gamma, beta), "group_norm")
    alone = torch.cat([group_norm(x[i : i + 1], 3, gamma, beta) for i in range(5)])
    return {"independent": bool(torch.allclose(full, alone, atol=1e-10, rtol=1e-8)),
            "error": float((full - alone).abs().max())}


@checks.api("ch07.1.contract", "same shape/dtype/device, inputs untouched",
            hint="Build new tensors; do not modify x, weight or bias in place.",
            judge=contract({
                "shape": "the output's shape differs from the input's",
                "dtype": "the output's dtype differs from the input's (float64 in, float64 out)",
                "device": "the output is on another device than the input",
                "unchanged": "x, weight or bias was modified in place: compute new tensors "
                "instead",
            }))
def contract_probe(group_norm: Any, ctx: ProbeContext) -> dict[str, Any]:
    x, gamma, beta = inputs(ctx, (3, 8, 5), "float64", 2.0, True, 80)
    copies = [t.clone() for t in (x, gamma, beta)]
    y = expect_tensor(group_norm(x, 4, gamma, beta), "group_norm")
    y32 = expect_tensor(group_norm(x.float(), 4), "group_norm")
    return {"shape": tuple(y.shape) == tuple(x.shape), "device": y.device.type == x.device.type,
            "dtype": y.dtype == torch.float64 and y32.dtype == torch.float32,
            "unchanged": all(torch.equal(a, b) for a, b in zip((x, gamma, beta), copies,
                                                                 strict=True))}


@checks.api("ch07.1.bad_groups", "ValueError naming C and G when G does not divide C",
            hint="Check C % num_groups before reshaping: reshape can silently mix channels.",
            judge=contract({
                "raised": "group_norm(x of shape (2, 6, 4), num_groups=4) returned a result; "
                "4 groups cannot split 6 channels: raise ValueError",
                "value_error": lambda got: "expected ValueError for 4 groups of 6 channels, got "
                f"{got['raised']}: {got['message']}",
                "named": lambda got: "the error should name C = 6 and num_groups = 4; it says: "
                f"{got['message']!r}",
            }))
def bad_groups(group_norm: Any, ctx: ProbeContext) -> dict[str, Any]:
    x = ctx.randn(2, 6, 4)  # 48 values: x.reshape(2, 4, -1) would quietly work
    return raised(lambda: group_norm(x, 4), "6", "4")


from_scratch(checks, "ch07.1.from_scratch", "does not call torch's group/layer/instance/batch "
             "norm", lambda group_norm, ctx: group_norm(ctx.randn(4, 6, 5), 3, torch.ones(6),
                                                         torch.zeros(6)),
             hint="Compute mean and variance yourself with reshape, mean and var.")

# ---------------------------------------------------------------- ch07.2 module


@checks.match("ch07.2.state_dict", "parameters, init and state_dict match nn.GroupNorm, both ways",
              against=TORCH_MODULE,
              hint="weight = ones(C) and bias = zeros(C) as nn.Parameter (one per CHANNEL, not "
              "per group); register_parameter(name, None) when affine is False.")
def state_dict(GroupNorm: Any, ctx: ProbeContext) -> dict[str, Any]:  # noqa: N803 - the class
    out: dict[str, Any] = {}
    for name, kw in {"default": {}, "no_affine": {"affine": False}}.items():
        gn = GroupNorm(4, 12, **kw)
        sd = gn.state_dict()
        out[name] = {"keys": list(sd.keys()), "shapes": [list(v.shape) for v in sd.values()],
                     "parameters": [n for n, _ in gn.named_parameters()],
                     "buffers": [n for n, _ in gn.named_buffers()], "init": list(sd.values()),
                     "attrs": [gn.num_groups, gn.num_channels, gn.eps, gn.affine]}
    theirs = nn.GroupNorm(4, 12)
    with torch.no_grad():
        theirs.weight.copy_(ctx.randn(12, offset=90))
        theirs.bias.copy_(ctx.randn(12, offset=91))
    ours = GroupNorm(4, 12)
    ours.load_state_dict(theirs.state_dict())  # torch -> ours
    back = nn.GroupNorm(4, 12)
    back.load_state_dict(ours.state_dict())  # ours -> torch
    out["round_trip"] = [back.weight, back.bias]
    return out


def module_run(id: str, title: str, hint: str, eps: float = 1e-5, std: float = 2.0) -> None:
    """Forward and gradients in train (N, C, L) and eval (N, C, H, W), against nn.GroupNorm."""

    def run(GroupNorm: Any, ctx: ProbeContext) -> dict[str, Any]:  # noqa: N803
        gn = GroupNorm(3, 6, eps=eps).double()
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

    checks.same_as(id, title, run, trusted=TORCH_MODULE, hint=hint)


module_run("ch07.2.forward", "forward and gradients, train (N, C, L) and eval (N, C, H, W)",
           hint="forward: group_norm(x, self.num_groups, self.weight, self.bias, self.eps).")
module_run("ch07.2.eps", "eps=0.01 on a tiny-variance input", eps=1e-2, std=1e-2,
           hint="Pass the module's own self.eps to group_norm.")


@checks.match("ch07.2.drop_in", "torch's constructor (device=, dtype=, bias=), reset_parameters, "
              "an empty batch", against=TORCH_MODULE,
              hint="Create weight and bias with device=device, dtype=dtype; bias=False registers "
              "bias as None; an empty batch (N = 0) returns an empty output.")
def drop_in(GroupNorm: Any, ctx: ProbeContext) -> dict[str, Any]:  # noqa: N803
    """torch's constructor keywords, reset_parameters and an empty batch, on (N, C) input."""
    out: dict[str, Any] = {}
    for name, kw in {"float64": {"dtype": torch.float64, "device": "cpu"},
                     "no_bias": {"bias": False}}.items():
        gn = GroupNorm(2, 4, **kw)
        out[name] = {"keys": list(gn.state_dict()),
                     "dtypes": [str(v.dtype) for v in gn.state_dict().values()]}
    gn = GroupNorm(2, 4)
    with torch.no_grad():
        gn.weight.mul_(3)
        gn.bias.add_(1)
    gn.reset_parameters()
    out["reset"] = dict(gn.state_dict())
    out["empty"] = list(expect_tensor(gn(ctx.randn(0, 4, 3)), "GroupNorm.forward").shape)
    return out


from_scratch(checks, "ch07.2.from_scratch", "the module does not call torch's norms",
             lambda GroupNorm, ctx: GroupNorm(2, 6)(ctx.randn(3, 6, 4)),  # noqa: N803
             hint="Call your own group_norm, not F.group_norm or nn.GroupNorm.")

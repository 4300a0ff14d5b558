"""ch02 checks for tasks 1-3: channel statistics, hooks, He init, frozen BN, shifted ReLU.

torch is the oracle where it can be: statistics are recomputed with plain torch reductions,
the frozen batch norm with ``F.batch_norm`` and the init with ``nn.init.kaiming_normal_``.
"""

from __future__ import annotations

import math
from typing import Any

from grader.lazy import F, nn, torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor, expect_tuple
from grader.specs.ch02.common import COLLAPSE, RESNET, hooks_left, small_convnet, small_mlp
from grader.specs.helpers import all_true, api, match, prop

# ---------------------------------------------------------------- ch02.1 statistics


def torch_stats(x: Any) -> list[Any]:
    flat = x.transpose(0, 1).reshape(x.shape[1], -1)  # (C, m)
    return [flat.mean(dim=1), flat.var(dim=1, unbiased=False).sqrt()]


def torch_share(x: Any) -> Any:
    within = torch_stats(x)[1].pow(2).mean()
    return 1 - within / x.var(unbiased=False)  # law of total variance


def stats_inputs(ctx: ProbeContext) -> list[Any]:
    offsets = ctx.randn(1, 5, 1, dtype=torch.float64, offset=9, std=2.0)
    return [
        ctx.randn(12, 4, dtype=torch.float64, mean=1.0, std=3.0),
        ctx.randn(6, 5, 7, offset=1) + offsets.float(),
        ctx.randn(3, 2, 4, 5, dtype=torch.float64, offset=2),
    ]


def probe_stats(mod: Any, ctx: ProbeContext) -> list[Any]:
    return [list(expect_tuple(mod.channel_stats(x), 2, "channel_stats")) for x in stats_inputs(ctx)]


def probe_share_inputs(ctx: ProbeContext) -> list[Any]:
    xs = stats_inputs(ctx)
    xs.append(xs[1] * 0.01 + 5 * ctx.randn(1, 5, 1, offset=3))  # nearly constant channels
    return xs


def probe_share(mod: Any, ctx: ProbeContext) -> list[Any]:
    return [expect_tensor(mod.collapse_share(x), "collapse_share") for x in probe_share_inputs(ctx)]


def probe_stats_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    x = ctx.randn(8, 3, 5, mean=2.0)
    copy = x.clone()
    mean, std = expect_tuple(mod.channel_stats(x), 2, "channel_stats")
    share = expect_tensor(mod.collapse_share(x), "collapse_share")
    constant = torch.arange(3.0).reshape(1, 3, 1).expand(8, 3, 5) + 0 * x  # channel c == c
    return {
        "shapes": tuple(mean.shape) == (3,) and tuple(std.shape) == (3,),
        "scalar": share.dim() == 0 and share.dtype == x.dtype,
        "unchanged": torch.equal(x, copy),
        "constant": abs(float(mod.collapse_share(constant)) - 1.0) < 1e-6,
    }


def judge_stats_contract(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    return all_true(got, {
        "shapes": "channel_stats should return two (C,) tensors for a (N, C, L) input",
        "scalar": "collapse_share should return a 0-dim tensor with the input's dtype",
        "unchanged": "the input x was modified in place",
        "constant": "collapse_share of channels that are each constant should be 1",
    })


STATS = [
    match("ch02.1.stats", "channel_stats on (N, C), (N, C, L), (N, C, H, W)", probe_stats,
          oracle=lambda mod, ctx: [torch_stats(x) for x in stats_inputs(ctx)],
          hint="Reduce over every axis except 1 (batch AND positions); biased std (correction=0)."),
    match("ch02.1.collapse", "collapse_share equals 1 - within / total variance", probe_share,
          oracle=lambda mod, ctx: [torch_share(x) for x in probe_share_inputs(ctx)],
          hint="Share = Var_c(mu_c) / (Var_c(mu_c) + mean_c sigma_c^2): BETWEEN-channel variance "
          "over the total."),
    api("ch02.1.contract", "shapes, dtype, input untouched, constant channels give 1",
        probe_stats_contract, judge_stats_contract,
        hint="Return (mean, std) of shape (C,) and a 0-dim share; do not modify x."),
]


# ---------------------------------------------------------------- ch02.2 hooks


def layer_outputs(model: Any, x: Any, layers: list[Any], train: bool) -> dict[str, Any]:
    """The oracle: walk an nn.Sequential by hand and reduce each chosen output with torch."""
    model.train(train)
    outs: dict[int, Any] = {}
    h = x
    with torch.no_grad():
        for module in model:
            h = module(h)
            for i, layer in enumerate(layers):
                if layer is module:
                    outs[i] = h
    stats = [torch_stats(outs[i]) for i in range(len(layers))]
    return {
        "mean": torch.stack([s[0] for s in stats]),
        "std": torch.stack([s[1] for s in stats]),
        "collapse": torch.stack([torch_share(outs[i]) for i in range(len(layers))]),
    }


def record_cases(record: Any, ctx: ProbeContext) -> list[Any]:
    mlp = small_mlp(ctx)
    x = ctx.randn(10, 5, dtype=torch.float64, offset=20)
    net = small_convnet(ctx)
    s = ctx.randn(6, 1, 40, offset=21)
    return [
        record(mlp, x, list(mlp), True),  # every layer, batch statistics
        record(mlp, x, [mlp[3], mlp[1]], True),  # the order of `layers`, not of execution
        record(net.blocks, s, list(net.blocks), False),  # conv blocks, eval mode
    ]


def learner_record(mod: Any) -> Any:
    def call(model: Any, x: Any, layers: list[Any], train: bool) -> dict[str, Any]:
        out = mod.record_stats(model, x, layers, train=train)
        if not isinstance(out, dict):
            from grader.probing import ProbeFailure

            raise ProbeFailure(f"record_stats returned {type(out).__name__}, expected a dict")
        keys = ("mean", "std", "collapse")
        return {k: expect_tensor(out.get(k), f"record_stats[{k!r}]") for k in keys}

    return call


class Boom(Exception):
    pass


def probe_clean(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    mlp = small_mlp(ctx)
    x = ctx.randn(10, 5, dtype=torch.float64, offset=20)
    copy = x.clone()
    out: dict[str, Any] = {}
    mlp.eval()
    mod.record_stats(mlp, x, list(mlp), train=True)
    out["hooks_removed"] = hooks_left(mlp) == 0
    out["eval_restored"] = not mlp.training
    mlp.train()
    mod.record_stats(mlp, x, list(mlp), train=False)
    out["train_restored"] = mlp.training
    out["unchanged"] = torch.equal(x, copy)

    def explode(module: Any, inputs: Any) -> None:
        raise Boom("a layer failed")

    bomb = mlp[2].register_forward_pre_hook(explode)
    try:
        mod.record_stats(mlp, x, list(mlp), train=True)
    except Boom:
        pass
    bomb.remove()
    out["hooks_removed_on_error"] = hooks_left(mlp) == 0
    return out


def judge_clean(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    return all_true(got, {
        "hooks_removed": "hooks are still registered after record_stats returned: keep the "
        "handles and call handle.remove()",
        "eval_restored": "the model came in eval mode and left in training mode",
        "train_restored": "the model came in training mode and left in eval mode",
        "unchanged": "the input x was modified",
        "hooks_removed_on_error": "when the model raised, hooks stayed registered: remove them in "
        "a finally block",
    })


def probe_stream(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = mod.stream_stats(mod.ResNetConfig(**RESNET, seed=ctx.seed))
    return {n: {k: float(v[-1] / v[0]) for k, v in out[n].items()} for n in ("none", "batch")}


def judge_stream(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    # Seeds 0-4, 24 blocks: std growth 167-7e3 without BN, 2.1-3.3 with BN.
    none, bn = got["none"], got["batch"]
    text = (f"growth of the stream's channel std from block 1 to {RESNET['num_blocks']}: "
            f"{none['std']:.3g}x without BN, {bn['std']:.3g}x with BN")
    if not (none["std"] > 30 and none["mean"] > 30):
        return Verdict.fail(text + " (expected > 30x without BN)")
    if not bn["std"] < 10:
        return Verdict.fail(text + " (expected < 10x with BN)")
    return Verdict.ok(text)


HOOKS = [
    match("ch02.2.record", "per-layer statistics match a layer-by-layer walk",
          lambda mod, ctx: record_cases(learner_record(mod), ctx),
          oracle=lambda mod, ctx: record_cases(layer_outputs, ctx),
          hint="Hook each layer's OUTPUT (register_forward_hook), run in the requested mode under "
          "no_grad, and stack in the order of `layers`."),
    api("ch02.2.clean", "hooks removed (even on error), mode restored, input untouched",
        probe_clean, judge_clean,
        hint="Keep the handles; remove them and call model.train(was_training) in a finally "
        "block."),
    prop("ch02.2.fig5", "Bjorck Fig 5: the stream grows with depth without BN, not with BN",
         probe_stream, judge_stream, timeout=60.0,
         hint="stream_stats uses record_stats on the blocks; check that it records outputs in "
         "training mode."),
]

# ---------------------------------------------------------------- ch02.3 init and fixes


def probe_he(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = {}
    for name, shape in {"linear": (256, 1024), "conv": (64, 32, 5)}.items():
        w = nn.Parameter(torch.empty(*shape, device=ctx.device))
        back = mod.he_normal_(w, torch.Generator(device=ctx.device).manual_seed(ctx.seed))
        fan_in = math.prod(shape[1:])
        out[name] = {
            "ratio": float(w.detach().std() / math.sqrt(2.0 / fan_in)),
            "mean": float(w.detach().mean() / math.sqrt(2.0 / fan_in)),
            "in_place": back is w,
            "leaf": w.grad_fn is None,
        }
    return out


def judge_he(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    for name, r in got.items():
        if not r["in_place"]:
            return Verdict.fail(f"{name}: he_normal_ should fill `weight` in place and return it")
        if not r["leaf"]:
            return Verdict.fail(f"{name}: the weight gained autograd history: use torch.no_grad")
        if not 0.97 < r["ratio"] < 1.03 or abs(r["mean"]) > 0.03:
            return Verdict.fail(
                f"{name} weight: std is {r['ratio']:.3f} x sqrt(2 / fan_in), expected 1.00 "
                "(a ratio of 0.5 or 2 means fan_out was used)"
            )
    return Verdict.ok()


def he_values(init: Any, ctx: ProbeContext) -> list[Any]:
    out = []
    for shape in ((7, 3), (4, 2, 3)):
        w = torch.empty(*shape)
        init(w, torch.Generator().manual_seed(ctx.seed + 5))
        out.append(w)
    return out


def frozen_case(make: Any, ctx: ProbeContext) -> dict[str, Any]:
    C = 4
    a = ctx.randn(16, C, 5, dtype=torch.float64, offset=30, mean=1.0, std=2.0)
    b = ctx.randn(8, C, 5, dtype=torch.float64, offset=31, mean=-0.5, std=0.5)
    weight = 1 + 0.3 * ctx.randn(C, dtype=torch.float64, offset=32)
    bias = ctx.randn(C, dtype=torch.float64, offset=33)
    return make(a, b, weight, bias)


def learner_frozen(mod: Any) -> Any:
    def make(a: Any, b: Any, weight: Any, bias: Any) -> dict[str, Any]:
        fbn = mod.FrozenBatchNorm(a.shape[1]).double().to(a.device)
        with torch.no_grad():
            fbn.weight.copy_(weight)
            fbn.bias.copy_(bias)
        out = {"calib": expect_tensor(fbn(a), "FrozenBatchNorm(calibration batch)")}
        out["next"] = expect_tensor(fbn(b), "FrozenBatchNorm(next batch)")
        fbn.eval()
        out["eval"] = expect_tensor(fbn(b), "FrozenBatchNorm(eval)")
        out["running_mean"], out["running_var"] = fbn.running_mean, fbn.running_var
        return out

    return make


def torch_frozen(a: Any, b: Any, weight: Any, bias: Any) -> dict[str, Any]:
    mean = a.mean(dim=(0, 2))
    var = a.var(dim=(0, 2), unbiased=False)
    fixed = F.batch_norm(b, mean, var, weight, bias, False, 0.0, 1e-5)
    return {"calib": F.batch_norm(a, None, None, weight, bias, True, 0.0, 1e-5), "next": fixed,
            "eval": fixed, "running_mean": mean, "running_var": var}


def probe_frozen_state(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    fbn = mod.FrozenBatchNorm(3).to(ctx.device)
    x = ctx.randn(6, 3, mean=1.0).requires_grad_()
    y = fbn(x)
    out = {
        "keys": list(fbn.state_dict().keys()) == list(nn.BatchNorm1d(3).state_dict().keys()),
        "no_grad_buffers": not fbn.running_mean.requires_grad and not fbn.running_var.requires_grad,
        "tracked": int(fbn.num_batches_tracked) == 1,
    }
    y.sum().backward()
    out["grads"] = x.grad is not None and fbn.weight.grad is not None and fbn.bias.grad is not None
    return out


def judge_frozen_state(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    return all_true(got, {
        "keys": "state_dict keys should be nn.BatchNorm1d's: weight, bias, running_mean, "
        "running_var, num_batches_tracked",
        "no_grad_buffers": "the stored statistics require grad: calibrate under torch.no_grad()",
        "tracked": "num_batches_tracked should be 1 after calibration",
        "grads": "backward through FrozenBatchNorm should reach x, weight and bias",
    })


def probe_collapse(mod: Any, ctx: ProbeContext) -> dict[str, float]:
    out = mod.collapse_vs_depth(mod.CollapseConfig(**COLLAPSE, seed=ctx.seed))
    return {k: float(v[-1]) for k, v in out.items()}


def judge_collapse(got: dict[str, float], expected: Any, ctx: Any) -> Verdict:
    # Seeds 0-2 (depth 50, width 64): plain 0.79-0.86; BN, frozen, shifted at most 0.04.
    text = "collapse share at the last layer: " + ", ".join(f"{k} {v:.3f}" for k, v in got.items())
    if not got["plain"] > 0.6:
        return Verdict.fail(text + " (the plain ReLU net should collapse: expected > 0.6)")
    bad = [k for k in ("batch", "frozen", "shifted") if not got[k] < 0.15]
    if bad:
        return Verdict.fail(text + f" ({', '.join(bad)} should not collapse: expected < 0.15)")
    return Verdict.ok(text)


FIXES = [
    api("ch02.3.he_std", "he_normal_: std sqrt(2 / fan_in), in place, no autograd history",
        probe_he, judge_he, hint="fan_in = weight[0].numel() (C_in * kernel), not C_out."),
    match("ch02.3.he_values", "he_normal_ draws what nn.init.kaiming_normal_ draws",
          lambda mod, ctx: he_values(mod.he_normal_, ctx),
          oracle=lambda mod, ctx: he_values(
              lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g), ctx),
          hint="Draw with weight.normal_(0, std, generator=generator) so seeds reproduce."),
    match("ch02.3.frozen", "FrozenBatchNorm: batch norm on its first batch, then fixed",
          lambda mod, ctx: frozen_case(learner_frozen(mod), ctx),
          oracle=lambda mod, ctx: frozen_case(torch_frozen, ctx),
          hint="Measure mean and BIASED variance only on the first call; later calls reuse them."),
    api("ch02.3.frozen_state", "FrozenBatchNorm: buffers like BatchNorm1d, no autograd in stats",
        probe_frozen_state, judge_frozen_state,
        hint="register_buffer the statistics; copy_ into them under torch.no_grad()."),
    match("ch02.3.shifted", "shifted_relu matches (relu(x) - sqrt(1/pi)) / sqrt(1 - 1/pi)",
          lambda mod, ctx: expect_tensor(mod.shifted_relu(shifted_input(ctx)), "shifted_relu"),
          oracle=lambda mod, ctx: (F.relu(shifted_input(ctx)) - math.sqrt(1 / math.pi))
          / math.sqrt(1 - 1 / math.pi),
          hint="The constants are for N(0, 2) inputs: mean sqrt(1/pi), variance 1 - 1/pi."),
    prop("ch02.3.collapse", "the plain net collapses; BN, frozen BN and shifted ReLU do not",
         probe_collapse, judge_collapse, timeout=60.0,
         hint="If every variant collapses, check FrozenBatchNorm and shifted_relu; if none does, "
         "check collapse_share and he_normal_."),
]


def shifted_input(ctx: ProbeContext) -> Any:
    return ctx.randn(50, dtype=torch.float64, offset=40, std=math.sqrt(2.0))


CHECKS_1_3 = (*STATS, *HOOKS, *FIXES)
